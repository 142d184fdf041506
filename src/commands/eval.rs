//! `glimpse eval spotting`: the spotter scored against ground truth.
//!
//! Synthetic videos (`glimpse synth`, H.264, one per seed) are analysed as files; spotted micro
//! events are matched one-to-one to the true micro-expressions by the MEGC rule (a hit when the
//! frame intervals overlap with IoU >= 0.5, best overlaps first). Micro events overlapping no
//! true event at all are false alarms on neutral face, counted per minute of neutral time. Real
//! videos (no annotated micro-expressions) are analysed too: their micro events are candidate
//! false alarms, counted per minute.
//!
//! With a MER model (`--mer`), each hit's recognised emotion is compared with the emotion the
//! generator meant (its AUs: 12 and 6+12 positive, 1+2 surprise, the rest negative): a check of
//! the whole runtime path from video to class on a face the model never saw in training.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::capture::{SourceSpec, open_source};
use crate::inference::MER_CLASSES;
use crate::pipeline::{OutputPolicy, PipelineConfig, TimingSummary};
use crate::recognition::AnalysedEvent;
use crate::spotting::{EventKind, SpotterConfig};
use crate::synth::{SynthSpec, TruthEvent, read_truth_csv};

use super::analyse::analyse_source;
use super::{CommandError, StopFlag, create_dir};

#[derive(Debug, Clone)]
pub struct SpottingEvalOptions {
    pub seeds: u64,
    /// Seeds `first_seed..first_seed + seeds`.
    pub first_seed: u64,
    pub seconds: f64,
    pub fps: f64,
    pub videos: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub spotting: SpotterConfig,
    pub align_by: crate::face::AlignBy,
    pub flow: crate::motion::FlowMethod,
    /// The MER model to recognise each event with; `None`: spotting only.
    pub mer_model: Option<PathBuf>,
    /// The synthetic head rolled by this many degrees (`SynthSpec::roll_deg`).
    pub roll_deg: f32,
    /// `FaceConfig::roll_dead_band_deg`.
    pub roll_dead_band_deg: f32,
    pub progress: bool,
}

/// The MER model for `--mer`: unlike the analysis, which goes on without emotions, this
/// evaluation fails when the model is missing or ONNX Runtime cannot run it.
pub fn required_mer_model() -> Result<PathBuf, CommandError> {
    let mut warnings = Vec::new();
    super::recognition_model(&mut warnings)?
        .ok_or_else(|| CommandError::NoMerModel { what: "glimpse eval spotting --mer", why: warnings.join("; ") })
}

/// `../shared/data/videos` beside the checkout (or the working directory), when it exists.
pub fn default_videos_dir() -> Option<PathBuf> {
    crate::inference::search_roots()
        .into_iter()
        .filter_map(|root| root.parent().map(|p| p.join("shared/data/videos")))
        .find(|dir| dir.is_dir())
}

/// Counts of one comparison with the truth.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Matches {
    pub true_events: usize,
    pub found_events: usize,
    pub hits: usize,
}

impl Matches {
    pub fn precision(&self) -> f64 {
        ratio(self.hits, self.found_events)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.hits, self.true_events)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
    }

    fn add(&mut self, other: Matches) {
        self.true_events += other.true_events;
        self.found_events += other.found_events;
        self.hits += other.hits;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b > 0 { a as f64 / b as f64 } else { 0.0 }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub micro: Matches,
    pub macro_: Matches,
    /// Micro events overlapping no true event.
    pub neutral_false_alarms: usize,
    pub neutral_minutes: f64,
    /// Mean IoU of the micro hits.
    pub mean_hit_iou: f64,
    /// Micro hits by intended emotion (rows) and recognised emotion (columns), in
    /// [`MER_CLASSES`] order; hits without a recognition are not counted.
    pub emotion_confusion: [[usize; 3]; 3],
}

/// Micro-expression recognition scored on the spotted hits, MEGC style: F1 and recall per class,
/// averaged over the classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecognitionScore {
    /// Rows: the intended emotion; columns: the recognised one ([`MER_CLASSES`] order).
    pub confusion: [[usize; 3]; 3],
    /// Hits the model gave no emotion (the event could not be analysed).
    pub unrecognised_hits: usize,
    pub accuracy: f64,
    pub uf1: f64,
    pub uar: f64,
}

impl RecognitionScore {
    pub fn from_confusion(confusion: [[usize; 3]; 3], unrecognised_hits: usize) -> Self {
        let total: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
        let (mut f1_sum, mut recall_sum) = (0.0, 0.0);
        for class in 0..3 {
            let tp = confusion[class][class];
            let truth: usize = confusion[class].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[class]).sum();
            f1_sum += ratio(2 * tp, truth + predicted);
            recall_sum += ratio(tp, truth);
        }
        Self { confusion, unrecognised_hits, accuracy: ratio(correct, total), uf1: f1_sum / 3.0, uar: recall_sum / 3.0 }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AmplitudeBin {
    pub from_px: f32,
    pub to_px: f32,
    pub true_events: usize,
    pub hits: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct VideoResult {
    pub file: String,
    pub minutes: f64,
    pub face_found_percent: f64,
    pub micro_events: usize,
    pub macro_events: usize,
    pub micro_per_minute: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SpottingReport {
    pub seeds: u64,
    pub first_seed: u64,
    pub seconds: f64,
    pub fps: f64,
    pub sensitivity: f32,
    pub flow: crate::motion::FlowMethod,
    pub align_by: crate::face::AlignBy,
    /// The synthetic head's still roll (degrees).
    pub roll_deg: f32,
    pub roll_dead_band_deg: f32,
    pub micro: Matches,
    pub macro_: Matches,
    pub neutral_false_alarms_per_minute: f64,
    pub mean_hit_iou: f64,
    /// With `--mer`: the recognised emotion of the micro hits against the intended one.
    pub recognition: Option<RecognitionScore>,
    pub by_amplitude: Vec<AmplitudeBin>,
    pub per_seed: Vec<SeedResult>,
    pub videos: Vec<VideoResult>,
    /// Talking-head and interview videos together.
    pub talking_micro_per_minute: Option<f64>,
    /// Spotter time per frame and event-analysis time per event, over the synthetic runs.
    pub spotting_per_frame: Option<TimingSummary>,
    pub analysis_per_event: Option<TimingSummary>,
}

/// Inclusive frame intervals' intersection over union.
pub fn interval_iou(a: (u64, u64), b: (u64, u64)) -> f64 {
    let inter = (a.1.min(b.1) + 1).saturating_sub(a.0.max(b.0));
    let union = (a.1 - a.0 + 1) + (b.1 - b.0 + 1) - inter;
    if union > 0 { inter as f64 / union as f64 } else { 0.0 }
}

/// A found interval matched to a true one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub iou: f64,
    pub found: usize,
    pub truth: usize,
}

/// One-to-one matching of found to true intervals, best overlaps first.
pub fn match_intervals(found: &[(u64, u64)], truth: &[(u64, u64)], min_iou: f64) -> Vec<Hit> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, f) in found.iter().enumerate() {
        for (j, t) in truth.iter().enumerate() {
            let iou = interval_iou(*f, *t);
            if iou >= min_iou {
                pairs.push((iou, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_found, mut used_truth) = (vec![false; found.len()], vec![false; truth.len()]);
    let mut hits = Vec::new();
    for (iou, i, j) in pairs {
        if !used_found[i] && !used_truth[j] {
            used_found[i] = true;
            used_truth[j] = true;
            hits.push(Hit { iou, found: i, truth: j });
        }
    }
    hits
}

fn frames_of(event: &AnalysedEvent) -> (u64, u64) {
    (event.event.onset.frame_number(), event.event.offset.frame_number())
}

fn truth_frames(event: &TruthEvent) -> (u64, u64) {
    (event.onset_frame, event.offset_frame)
}

/// Scores one analysed synthetic video.
pub fn score_seed(seed: u64, seconds: f64, truth: &[TruthEvent], events: &[std::sync::Arc<AnalysedEvent>]) -> SeedResult {
    let micro_events: Vec<&AnalysedEvent> = events.iter().filter(|e| e.event.kind == EventKind::Micro).map(|e| &**e).collect();
    let micro_truth: Vec<&TruthEvent> = truth.iter().filter(|t| t.kind == EventKind::Micro).collect();
    let found_micro: Vec<(u64, u64)> = micro_events.iter().map(|e| frames_of(e)).collect();
    let true_micro: Vec<(u64, u64)> = micro_truth.iter().map(|t| truth_frames(t)).collect();
    let found_macro: Vec<(u64, u64)> = events.iter().filter(|e| e.event.kind == EventKind::Macro).map(|e| frames_of(e)).collect();
    let true_macro: Vec<(u64, u64)> = truth.iter().filter(|t| t.kind == EventKind::Macro).map(truth_frames).collect();
    let micro_hits = match_intervals(&found_micro, &true_micro, 0.5);
    let mut emotion_confusion = [[0usize; 3]; 3];
    for hit in &micro_hits {
        let recognised = micro_events[hit.found].recognition.as_ref().and_then(|r| class_index(r.emotion));
        if let (Some(intended), Some(recognised)) = (class_index(&micro_truth[hit.truth].emotion.to_string()), recognised) {
            emotion_confusion[intended][recognised] += 1;
        }
    }
    let macro_hits = match_intervals(&found_macro, &true_macro, 0.5);
    let all_truth: Vec<(u64, u64)> = truth.iter().map(truth_frames).collect();
    let neutral_false_alarms = found_micro.iter().filter(|f| all_truth.iter().all(|t| interval_iou(**f, *t) == 0.0)).count();
    let event_seconds: f64 = truth.iter().map(|t| t.duration_ms / 1000.0).sum();
    SeedResult {
        seed,
        micro: Matches { true_events: true_micro.len(), found_events: found_micro.len(), hits: micro_hits.len() },
        macro_: Matches { true_events: true_macro.len(), found_events: found_macro.len(), hits: macro_hits.len() },
        neutral_false_alarms,
        neutral_minutes: (seconds - event_seconds).max(0.0) / 60.0,
        mean_hit_iou: if micro_hits.is_empty() {
            0.0
        } else {
            micro_hits.iter().map(|h| h.iou).sum::<f64>() / micro_hits.len() as f64
        },
        emotion_confusion,
    }
}

fn class_index(emotion: &str) -> Option<usize> {
    MER_CLASSES.iter().position(|c| *c == emotion)
}

fn hits_by_amplitude(truth: &[TruthEvent], events: &[std::sync::Arc<AnalysedEvent>], bins: &mut [AmplitudeBin]) {
    let found: Vec<(u64, u64)> = events.iter().filter(|e| e.event.kind == EventKind::Micro).map(|e| frames_of(e)).collect();
    for bin in bins.iter_mut() {
        let in_bin: Vec<(u64, u64)> = truth
            .iter()
            .filter(|t| t.kind == EventKind::Micro && t.amplitude_px >= bin.from_px && t.amplitude_px < bin.to_px)
            .map(truth_frames)
            .collect();
        bin.true_events += in_bin.len();
        bin.hits += match_intervals(&found, &in_bin, 0.5).len();
    }
}

fn pipeline_config(options: &SpottingEvalOptions) -> PipelineConfig {
    // Without `--mer` only spotting is measured (the MER's time is in `glimpse bench`).
    PipelineConfig {
        output: OutputPolicy::Lossless,
        spotting: options.spotting,
        mer_model: options.mer_model.clone(),
        face: crate::face::FaceConfig {
            align_by: options.align_by,
            roll_dead_band_deg: options.roll_dead_band_deg,
            ..Default::default()
        },
        motion: crate::motion::MotionConfig { flow: options.flow, ..Default::default() },
        ..PipelineConfig::default()
    }
}

pub fn spotting(options: &SpottingEvalOptions, stop: &StopFlag) -> Result<SpottingReport, CommandError> {
    let (work, temporary) = match &options.work {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("glimpse-eval-spotting-{}", std::process::id())), true),
    };
    create_dir(&work)?;
    let result = run_spotting(options, &work, stop);
    if temporary {
        // Only files this run made; a failure to tidy up is not worth failing the report.
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn run_spotting(options: &SpottingEvalOptions, work: &Path, stop: &StopFlag) -> Result<SpottingReport, CommandError> {
    // A wrong folder should fail before minutes of synthetic runs, not after.
    let video_files = match &options.videos {
        Some(dir) => video_files(dir)?,
        None => Vec::new(),
    };
    let mut per_seed = Vec::new();
    let mut bins: Vec<AmplitudeBin> = [(0.5, 1.0), (1.0, 2.0), (2.0, 3.01)]
        .iter()
        .map(|&(from_px, to_px)| AmplitudeBin { from_px, to_px, true_events: 0, hits: 0 })
        .collect();
    let mut spotting_timings = Vec::new();
    let mut event_timings = Vec::new();
    for seed in options.first_seed..options.first_seed + options.seeds {
        if stop.is_raised() {
            break;
        }
        let spec = SynthSpec {
            seed,
            seconds: options.seconds,
            fps: options.fps,
            micro_events: (options.seconds * 0.4).round() as usize,
            macro_events: (options.seconds / 10.0).round() as usize,
            roll_deg: options.roll_deg,
            ..SynthSpec::default()
        };
        let video = work.join(format!("synth_{seed}.mp4"));
        let truth_path = work.join(format!("synth_{seed}_truth.csv"));
        super::synth::run(&spec, &video, &truth_path, false)?;
        let truth = read_truth_csv(&truth_path)?;
        let source = open_source(&SourceSpec::File(video.clone()), SynthSpec::default())?;
        let outcome = analyse_source(source, pipeline_config(options), &work.join(format!("synth_{seed}")), false, false, stop)?;
        let result = score_seed(seed, options.seconds, &truth, &outcome.events);
        hits_by_amplitude(&truth, &outcome.events, &mut bins);
        if options.progress {
            eprintln!(
                "seed {seed}: micro {}/{} found, {} spotted, {} neutral false alarms",
                result.micro.hits, result.micro.true_events, result.micro.found_events, result.neutral_false_alarms
            );
        }
        per_seed.push(result);
        spotting_timings.extend(outcome.stats.stages.iter().filter(|(name, _)| name == "spotting").map(|(_, t)| *t));
        event_timings.push(outcome.stats.event_analysis);
    }

    let mut videos = Vec::new();
    {
        for file in video_files {
            if stop.is_raised() {
                break;
            }
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let source = open_source(&SourceSpec::File(file.clone()), SynthSpec::default())?;
            let out = work.join(format!("video_{}", name.trim_end_matches(".mp4")));
            let outcome = analyse_source(source, pipeline_config(options), &out, false, false, stop)?;
            let stats = &outcome.stats;
            let fps = if stats.source.nominal_fps > 0.0 { stats.source.nominal_fps } else { 30.0 };
            let minutes = stats.frames_analysed as f64 / fps / 60.0;
            let micro = outcome.events.iter().filter(|e| e.event.kind == EventKind::Micro).count();
            let result = VideoResult {
                file: name,
                minutes,
                face_found_percent: stats.face_found_percent(),
                micro_events: micro,
                macro_events: outcome.events.len() - micro,
                micro_per_minute: if minutes > 0.0 { micro as f64 / minutes } else { 0.0 },
            };
            if options.progress {
                eprintln!("{}: {} micro events in {:.2} min", result.file, result.micro_events, result.minutes);
            }
            videos.push(result);
        }
    }

    let mut micro = Matches::default();
    let mut macro_ = Matches::default();
    let (mut alarms, mut neutral_minutes, mut iou_sum) = (0usize, 0.0f64, 0.0f64);
    let mut emotion_confusion = [[0usize; 3]; 3];
    for seed in &per_seed {
        for (sum, row) in emotion_confusion.iter_mut().zip(seed.emotion_confusion) {
            for (cell, count) in sum.iter_mut().zip(row) {
                *cell += count;
            }
        }
        micro.add(seed.micro);
        macro_.add(seed.macro_);
        alarms += seed.neutral_false_alarms;
        neutral_minutes += seed.neutral_minutes;
        iou_sum += seed.mean_hit_iou * seed.micro.hits as f64;
    }
    let talking: Vec<&VideoResult> =
        videos.iter().filter(|v| v.file.starts_with("talking") || v.file.starts_with("interview")).collect();
    let talking_minutes: f64 = talking.iter().map(|v| v.minutes).sum();
    Ok(SpottingReport {
        seeds: options.seeds,
        first_seed: options.first_seed,
        seconds: options.seconds,
        fps: options.fps,
        sensitivity: options.spotting.sensitivity,
        flow: options.flow,
        align_by: options.align_by,
        roll_deg: options.roll_deg,
        roll_dead_band_deg: options.roll_dead_band_deg,
        micro,
        macro_,
        neutral_false_alarms_per_minute: if neutral_minutes > 0.0 { alarms as f64 / neutral_minutes } else { 0.0 },
        mean_hit_iou: if micro.hits > 0 { iou_sum / micro.hits as f64 } else { 0.0 },
        recognition: options.mer_model.is_some().then(|| {
            let recognised: usize = emotion_confusion.iter().flatten().sum();
            RecognitionScore::from_confusion(emotion_confusion, micro.hits - recognised)
        }),
        by_amplitude: bins,
        per_seed,
        talking_micro_per_minute: (talking_minutes > 0.0)
            .then(|| talking.iter().map(|v| v.micro_events).sum::<usize>() as f64 / talking_minutes),
        videos,
        spotting_per_frame: TimingSummary::merge(&spotting_timings),
        analysis_per_event: TimingSummary::merge(&event_timings),
    })
}

fn video_files(dir: &Path) -> Result<Vec<PathBuf>, CommandError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| CommandError::ReadDir { path: dir.to_owned(), source })?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e.eq_ignore_ascii_case("mp4")))
        .collect();
    files.sort();
    Ok(files)
}

pub fn format_spotting(report: &SpottingReport) -> String {
    let mut out = String::new();
    let m = &report.micro;
    let _ = writeln!(
        out,
        "synthetic: {} videos (seeds {}-{}) x {:.0} s at {:.0} fps{}, sensitivity {}, flow {}, aligned by {}{}",
        report.seeds,
        report.first_seed,
        report.first_seed + report.seeds.saturating_sub(1),
        report.seconds,
        report.fps,
        if report.roll_deg != 0.0 { format!(", head rolled {} degrees", report.roll_deg) } else { String::new() },
        report.sensitivity,
        report.flow,
        report.align_by,
        if report.align_by == crate::face::AlignBy::Level && report.roll_dead_band_deg > 0.0 {
            format!(" (roll dead band {} degrees)", report.roll_dead_band_deg)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "micro-expressions (IoU >= 0.5): {} true, {} spotted, {} hits -> precision {:.3}, recall {:.3}, F1 {:.3} (mean hit IoU {:.2})",
        m.true_events,
        m.found_events,
        m.hits,
        m.precision(),
        m.recall(),
        m.f1(),
        report.mean_hit_iou
    );
    let a = &report.macro_;
    let _ = writeln!(
        out,
        "macro-expressions (IoU >= 0.5): {} true, {} spotted, {} hits -> precision {:.3}, recall {:.3}, F1 {:.3}",
        a.true_events,
        a.found_events,
        a.hits,
        a.precision(),
        a.recall(),
        a.f1()
    );
    let _ = writeln!(out, "false alarms on neutral face: {:.2} micro events per minute", report.neutral_false_alarms_per_minute);
    if let Some(r) = &report.recognition {
        let _ = writeln!(
            out,
            "emotion of the micro hits (MER, intended vs recognised): accuracy {:.3}, UF1 {:.3}, UAR {:.3}; {} hits unrecognised",
            r.accuracy, r.uf1, r.uar, r.unrecognised_hits
        );
        let _ = writeln!(out, "  {:>10} {:>9} {:>9} {:>9}", "intended", MER_CLASSES[0], MER_CLASSES[1], MER_CLASSES[2]);
        for (class, row) in MER_CLASSES.iter().zip(r.confusion) {
            let _ = writeln!(out, "  {class:>10} {:>9} {:>9} {:>9}", row[0], row[1], row[2]);
        }
    }
    for bin in &report.by_amplitude {
        let _ = writeln!(
            out,
            "  recall at {:.1}-{:.1} px: {}/{} = {:.3}",
            bin.from_px,
            bin.to_px.min(3.0),
            bin.hits,
            bin.true_events,
            ratio(bin.hits, bin.true_events)
        );
    }
    if let Some(t) = &report.spotting_per_frame {
        let _ = writeln!(out, "spotter time per frame: mean {:.3} ms, p95 {:.3} ms (worst video)", t.mean_ms, t.p95_ms);
    }
    if let Some(t) = &report.analysis_per_event {
        let model = if report.recognition.is_some() { "with the MER model" } else { "MER not run; --mer adds it" };
        let _ =
            writeln!(out, "event analysis ({model}) per event: mean {:.1} ms, p95 {:.1} ms (worst video)", t.mean_ms, t.p95_ms);
    }
    if !report.videos.is_empty() {
        let _ = writeln!(out, "real videos (no annotated micro-expressions; micro events are candidate false alarms):");
        for v in &report.videos {
            let _ = writeln!(
                out,
                "  {:<44} {:5.2} min  face {:5.1} %  micro {:3}  macro {:3}  -> {:5.2} micro/min",
                v.file, v.minutes, v.face_found_percent, v.micro_events, v.macro_events, v.micro_per_minute
            );
        }
        if let Some(rate) = report.talking_micro_per_minute {
            let _ = writeln!(out, "talking and interview videos together: {rate:.2} micro events per minute");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_inclusive_frame_intervals() {
        assert_eq!(interval_iou((10, 19), (10, 19)), 1.0);
        assert_eq!(interval_iou((10, 19), (20, 29)), 0.0);
        assert!((interval_iou((10, 19), (15, 24)) - 5.0 / 15.0).abs() < 1e-12);
    }

    #[test]
    fn matching_is_one_to_one_and_best_first() {
        let truth = [(10, 20), (40, 50)];
        let found = [(11, 20), (12, 21), (41, 52), (80, 90)];
        let hits = match_intervals(&found, &truth, 0.5);
        assert_eq!(hits.len(), 2, "one hit per true event");
        assert!(hits[0].iou > 0.9);
        assert_eq!((hits[0].found, hits[0].truth), (0, 0));
        assert_eq!((hits[1].found, hits[1].truth), (2, 1));
        assert!(match_intervals(&[(10, 12)], &[(10, 20)], 0.5).is_empty(), "IoU 3/11 is not a hit");
    }

    fn analysed(id: u32, kind: EventKind, frames: (u64, u64), probabilities: Option<[f32; 3]>) -> std::sync::Arc<AnalysedEvent> {
        use crate::spotting::{EventMark, SpotEvent};
        let mark = |frame: u64| EventMark { index: frame - 1, seconds: (frame - 1) as f64 / 30.0 };
        let event = SpotEvent {
            id,
            kind,
            onset: mark(frames.0),
            apex: mark((frames.0 + frames.1) / 2),
            offset: mark(frames.1),
            confidence: 0.5,
            peak_score: 5.0,
            apex_displacement: [[0.0; 2]; 8],
        };
        let recognition = probabilities.map(crate::recognition::Recognition::from_probabilities);
        std::sync::Arc::new(AnalysedEvent {
            event,
            aus: String::new(),
            recognition,
            images: None,
            problem: None,
            analysis_ms: 1.0,
        })
    }

    fn truth(event_id: u32, kind: EventKind, frames: (u64, u64), emotion: crate::synth::Emotion) -> TruthEvent {
        let ms = |frame: u64| (frame - 1) as f64 * 1000.0 / 30.0;
        TruthEvent {
            event_id,
            kind,
            onset_frame: frames.0,
            apex_frame: (frames.0 + frames.1) / 2,
            offset_frame: frames.1,
            onset_ms: ms(frames.0),
            apex_ms: ms((frames.0 + frames.1) / 2),
            offset_ms: ms(frames.1),
            duration_ms: ms(frames.1) - ms(frames.0),
            aus: String::new(),
            emotion,
            amplitude_px: 1.0,
            side: None,
        }
    }

    #[test]
    fn each_micro_hit_compares_the_recognised_emotion_with_the_intended_one() {
        use crate::synth::Emotion;
        let truth = [
            truth(1, EventKind::Micro, (30, 40), Emotion::Surprise),
            truth(2, EventKind::Micro, (100, 110), Emotion::Positive),
            truth(3, EventKind::Macro, (200, 260), Emotion::Negative),
            truth(4, EventKind::Micro, (300, 310), Emotion::Negative),
            truth(5, EventKind::Micro, (400, 410), Emotion::Negative),
        ];
        let events = [
            // surprise recognised as surprise; a false alarm recognised as positive (not counted)
            analysed(1, EventKind::Micro, (31, 40), Some([0.1, 0.2, 0.7])),
            analysed(2, EventKind::Micro, (150, 160), Some([0.1, 0.8, 0.1])),
            // positive recognised as negative; the macro event has no recognition
            analysed(3, EventKind::Micro, (100, 111), Some([0.5, 0.3, 0.2])),
            analysed(4, EventKind::Macro, (200, 258), None),
            // negative recognised as negative; a negative hit the model could not analyse
            analysed(5, EventKind::Micro, (300, 310), Some([0.6, 0.3, 0.1])),
            analysed(6, EventKind::Micro, (400, 409), None),
        ];
        let seed = score_seed(1, 30.0, &truth, &events);
        assert_eq!(seed.micro.hits, 4);
        assert_eq!(seed.emotion_confusion, [[1, 0, 0], [1, 0, 0], [0, 0, 1]]);
        let score = RecognitionScore::from_confusion(seed.emotion_confusion, seed.micro.hits - 3);
        assert_eq!(score.unrecognised_hits, 1);
        assert!((score.accuracy - 2.0 / 3.0).abs() < 1e-12);
        // F1: negative 2*1/(1+2), positive 0, surprise 1; recall: 1, 0, 1
        assert!((score.uf1 - (2.0 / 3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
        assert!((score.uar - 2.0 / 3.0).abs() < 1e-12);
    }
}
