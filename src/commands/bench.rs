//! `glimpse bench INPUT`: decode-only throughput of the input (the physical limit), each stage
//! alone on the same frames in one thread, then the whole pipeline (as fast as it goes, or paced
//! like a camera), with CPU use and peak memory; `--soak-minutes` runs the paced pipeline for a
//! long time and follows its memory.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::capture::{LoopedSource, Pacing, Source, SourceSpec, open_source};
use crate::face::{FaceConfig, FaceStage};
use crate::inference::Recogniser;
use crate::motion::{MotionAnalyser, MotionConfig, MotionStage};
use crate::pipeline::usage::{UsageSample, load_average, reset_peak_rss, slope};
use crate::pipeline::{
    LandmarkSetting, LatencyHistogram, OutputPolicy, Pipeline, PipelineConfig, PipelineReport, PipelineStats, TimingSummary,
};
use crate::recognition::EventAnalyser;
use crate::spotting::{SpotterConfig, SpottingStage};
use crate::synth::SynthSpec;

use super::{CommandError, StopFlag, report};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub input: SourceSpec,
    pub synth: SynthSpec,
    /// Use at most this many frames (in every phase).
    pub max_frames: Option<u64>,
    /// Run the whole pipeline at the source's own frame rate, as a camera delivers frames: the
    /// latency figure. Otherwise as fast as it goes: the throughput figure.
    pub paced: bool,
    /// The flow between face crops (the default: the pipeline's).
    pub flow: crate::motion::FlowMethod,
}

/// CPU and memory of one phase of the benchmark.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PhaseUsage {
    /// Percent of one core (200 % = two cores busy throughout).
    pub cpu_percent: f64,
    /// The phase's peak resident memory (the process's, from its start where the kernel does
    /// not let the peak be reset between phases).
    pub peak_rss_mib: Option<f64>,
}

impl PhaseUsage {
    fn between(start: &UsageSample, end: &UsageSample) -> Self {
        Self { cpu_percent: end.cpu_percent_since(start), peak_rss_mib: end.peak_rss_bytes.map(|b| b as f64 / MIB) }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeBench {
    pub frames: u64,
    pub seconds: f64,
    pub fps: f64,
    pub per_frame: TimingSummary,
    pub usage: PhaseUsage,
}

/// One stage run alone: its time where it ran, and that time spread over every frame.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageBench {
    pub name: &'static str,
    pub timing: TimingSummary,
    /// Total time in this stage divided by the frames read.
    pub per_frame_ms: f64,
}

/// Every stage in turn on each frame, in one thread: what each costs without the others
/// competing for the cores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StagesBench {
    pub frames: u64,
    pub stages: Vec<StageBench>,
    /// The sum of the stages' per-frame costs: one core's time per frame.
    pub serial_ms_per_frame: f64,
    pub serial_fps: f64,
    pub usage: PhaseUsage,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineBench {
    pub paced: bool,
    pub fps: f64,
    pub stats: PipelineStats,
    pub usage: PhaseUsage,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub input: String,
    pub width: i32,
    pub height: i32,
    pub cores: usize,
    /// The machine's load averages (1, 5, 15 min) before and after: numbers taken on a busy
    /// machine say little.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
    /// The model files in use.
    pub models: Vec<PathBuf>,
    /// What measures the flow between face crops.
    pub flow: crate::motion::FlowMethod,
    pub decode: DecodeBench,
    pub stages: StagesBench,
    pub pipeline: PipelineBench,
}

/// The models a default pipeline uses: the landmark model when it is there, the MER model when
/// it and ONNX Runtime are (warnings say what is missing).
struct Models {
    landmarks: LandmarkSetting,
    mer: Option<PathBuf>,
}

impl Models {
    fn find() -> Result<Self, CommandError> {
        let mut warnings = Vec::new();
        let mer = super::recognition_model(&mut warnings)?;
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        Ok(Self { landmarks: LandmarkSetting::Auto, mer })
    }

    fn files(&self) -> Vec<PathBuf> {
        let landmarks = crate::inference::models_dir().join(crate::inference::LANDMARKS_FILE);
        landmarks.is_file().then_some(landmarks).into_iter().chain(self.mer.clone()).collect()
    }
}

pub fn run(options: &BenchOptions, stop: &StopFlag) -> Result<BenchReport, CommandError> {
    let load_before = load_average();
    let models = Models::find()?;
    let decode = decode_only(&options.input, &options.synth, options.max_frames)?;
    let stages = stages_alone(options, &models, stop)?;
    let pipeline = whole_pipeline(options, &models, stop)?;
    let info = &pipeline.stats.source;
    Ok(BenchReport {
        input: options.input.to_string(),
        width: info.width,
        height: info.height,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before,
        load_after: load_average(),
        models: models
            .files()
            .into_iter()
            .chain(
                (options.flow == crate::motion::FlowMethod::Onnx)
                    .then(|| crate::inference::models_dir().join(crate::inference::FLOW_FILE)),
            )
            .collect(),
        flow: options.flow,
        decode,
        stages,
        pipeline,
    })
}

/// Reads every frame (up to `max_frames`) and does nothing else.
pub fn decode_only(input: &SourceSpec, synth: &SynthSpec, max_frames: Option<u64>) -> Result<DecodeBench, CommandError> {
    let mut source = open_source(input, synth.clone())?;
    let mut histogram = LatencyHistogram::default();
    reset_peak_rss();
    let start = UsageSample::now();
    let mut frames = 0u64;
    while max_frames.is_none_or(|max| frames < max) {
        let read_started = Instant::now();
        let Some(frame) = source.next_frame()? else {
            break;
        };
        histogram.record(read_started.elapsed());
        drop(frame);
        frames += 1;
    }
    let end = UsageSample::now();
    let seconds = end.at.duration_since(start.at).as_secs_f64();
    Ok(DecodeBench {
        frames,
        seconds,
        fps: if seconds > 0.0 { frames as f64 / seconds } else { 0.0 },
        per_frame: histogram.summary(),
        usage: PhaseUsage::between(&start, &end),
    })
}

/// Each stage of the pipeline in turn on each frame, timed alone, in this thread.
fn stages_alone(options: &BenchOptions, models: &Models, stop: &StopFlag) -> Result<StagesBench, CommandError> {
    use crate::pipeline::PipelineError;
    let mut source = open_source(&options.input, options.synth.clone())?;
    let mut face = FaceStage::new(FaceConfig::default()).map_err(PipelineError::from)?;
    if let Some(landmarker) = models.landmarks.load()? {
        face = face.with_landmarks(Box::new(landmarker));
    }
    let crop_size = face.aligner().size() as usize;
    let flow = crate::pipeline::flow_estimator(options.flow)?;
    let motion_config = MotionConfig { flow: options.flow, ..MotionConfig::default() };
    let mut motion = MotionStage::new(MotionAnalyser::new(flow, crop_size), motion_config);
    let mut spotting = SpottingStage::new(SpotterConfig::default());
    let recogniser = models.mer.as_deref().map(Recogniser::load).transpose()?;
    let event_flow = crate::pipeline::flow_estimator(options.flow)?;
    let mut events = EventAnalyser::new(crop_size, event_flow, recogniser).map_err(PipelineError::from)?;

    const NAMES: [&str; 8] = [
        "decode",
        "face track",
        "face detect",
        "landmarks",
        "align",
        "motion (flow, head, regions)",
        "spotting",
        "recognition per event",
    ];
    let mut histograms: [LatencyHistogram; 8] = Default::default();
    let mut record = |stage: usize, duration: Duration| histograms[stage].record(duration);
    reset_peak_rss();
    let start = UsageSample::now();
    let mut frames = 0u64;
    while options.max_frames.is_none_or(|max| frames < max) && !stop.is_raised() {
        let started = Instant::now();
        let Some(frame) = source.next_frame()? else {
            break;
        };
        record(0, started.elapsed());
        frames += 1;

        let result = face.process(&frame).map_err(PipelineError::from)?;
        let parts = face.last_timings();
        record(1, parts.track);
        let optional = [(2, parts.detect), (3, parts.landmarks), (4, parts.align)];
        for (stage, duration) in optional {
            if let Some(duration) = duration {
                record(stage, duration);
            }
        }

        let measured = match (&result.track, &result.aligned) {
            (Some(track), Some(aligned)) if result.success() => Some((track.id, aligned)),
            _ => None,
        };
        let started = Instant::now();
        let frame_motion = motion.process(frame.index, frame.time.seconds, measured).map_err(PipelineError::from)?;
        if frame_motion.is_some() {
            record(5, started.elapsed());
        }
        let started = Instant::now();
        let crop = measured.map(|(id, aligned)| (id, &aligned.image));
        let (_, found) =
            spotting.process(frame.index, frame.time.seconds, crop, frame_motion.as_ref()).map_err(PipelineError::from)?;
        record(6, started.elapsed());
        if let Some(found) = found {
            let started = Instant::now();
            drop(events.analyse(found));
            record(7, started.elapsed());
        }
    }
    let end = UsageSample::now();
    let stages: Vec<StageBench> = NAMES
        .iter()
        .zip(&histograms)
        .map(|(name, histogram)| {
            let timing = histogram.summary();
            let total_ms = timing.mean_ms * timing.count as f64;
            StageBench { name, timing, per_frame_ms: if frames > 0 { total_ms / frames as f64 } else { 0.0 } }
        })
        .collect();
    let serial_ms_per_frame: f64 = stages.iter().map(|s| s.per_frame_ms).sum();
    Ok(StagesBench {
        frames,
        serial_fps: if serial_ms_per_frame > 0.0 { 1000.0 / serial_ms_per_frame } else { 0.0 },
        serial_ms_per_frame,
        stages,
        usage: PhaseUsage::between(&start, &end),
    })
}

fn pipeline_config(models: &Models, pacing: Pacing, max_frames: Option<u64>, flow: crate::motion::FlowMethod) -> PipelineConfig {
    PipelineConfig {
        motion: MotionConfig { flow, ..MotionConfig::default() },
        output: OutputPolicy::Lossless,
        pacing,
        max_frames,
        mer_model: models.mer.clone(),
        landmarks: models.landmarks.clone(),
        ..PipelineConfig::default()
    }
}

fn whole_pipeline(options: &BenchOptions, models: &Models, stop: &StopFlag) -> Result<PipelineBench, CommandError> {
    let source = open_source(&options.input, options.synth.clone())?;
    let pacing = if options.paced { Pacing::RealTime } else { Pacing::AsFastAsPossible };
    reset_peak_rss();
    let start = UsageSample::now();
    let pipeline = Pipeline::start(source, pipeline_config(models, pacing, options.max_frames, options.flow))?;
    let (finished, end) = run_to_end(pipeline, Duration::from_millis(200), |pipeline| {
        if stop.is_raised() {
            pipeline.stop();
        }
    })?;
    Ok(PipelineBench {
        paced: options.paced,
        fps: finished.stats.analysis_fps(),
        stats: finished.stats,
        usage: PhaseUsage::between(&start, &end),
    })
}

/// Waits for a started pipeline to end (its results are not needed here), calling `on_tick`
/// between waits; returns its report and the usage at its end, or the capture's error.
fn run_to_end(
    pipeline: Pipeline,
    poll: Duration,
    mut on_tick: impl FnMut(&Pipeline),
) -> Result<(PipelineReport, UsageSample), CommandError> {
    loop {
        on_tick(&pipeline);
        match pipeline.results().recv_timeout(poll) {
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let finished = pipeline.finish()?;
    let end = UsageSample::now();
    if let Some(error) = finished.capture_error {
        return Err(error.into());
    }
    Ok((finished, end))
}

fn timing_columns(t: &TimingSummary) -> String {
    format!("{:>8} {:>8.3} {:>8.3} {:>8.3} {:>8.3}", t.count, t.mean_ms, t.p50_ms, t.p95_ms, t.p99_ms)
}

fn format_load(load: Option<[f64; 3]>) -> String {
    load.map_or_else(|| "unknown".into(), |[one, five, fifteen]| format!("{one:.2} {five:.2} {fifteen:.2}"))
}

fn format_rss(mib: Option<f64>) -> String {
    mib.map_or_else(|| "unknown".into(), |mib| format!("{mib:.0} MiB"))
}

pub fn format(report_: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "glimpse bench: {} ({}x{}) on {} cores; load average {} before, {} after",
        report_.input,
        report_.width,
        report_.height,
        report_.cores,
        format_load(report_.load_before),
        format_load(report_.load_after)
    );
    let models: Vec<String> = report_.models.iter().map(|m| m.display().to_string()).collect();
    let _ =
        writeln!(out, "models: {}; flow: {}\n", if models.is_empty() { "none".into() } else { models.join(", ") }, report_.flow);
    let d = &report_.decode;
    let _ = writeln!(
        out,
        "decode only (the limit): {:.1} frames/s, {} frames in {:.2} s, CPU {:.0} %, peak RSS {}\n",
        d.fps,
        d.frames,
        d.seconds,
        d.usage.cpu_percent,
        format_rss(d.usage.peak_rss_mib)
    );
    let s = &report_.stages;
    let _ = writeln!(out, "each stage alone, one after the other on the same {} frames in one thread:", s.frames);
    let _ = writeln!(
        out,
        "  {:<30} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}",
        "stage (ms)", "runs", "mean", "p50", "p95", "p99", "per frame"
    );
    for stage in &s.stages {
        let _ = writeln!(out, "  {:<30} {} {:>10.3}", stage.name, timing_columns(&stage.timing), stage.per_frame_ms);
    }
    let _ = writeln!(
        out,
        "  all stages on one core: {:.3} ms per frame = {:.1} frames/s (CPU {:.0} %, peak RSS {})\n",
        s.serial_ms_per_frame,
        s.serial_fps,
        s.usage.cpu_percent,
        format_rss(s.usage.peak_rss_mib)
    );
    let p = &report_.pipeline;
    let e2e = &p.stats.end_to_end;
    let _ = writeln!(
        out,
        "whole pipeline ({}): {:.1} frames/s, capture-to-result latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, CPU {:.0} %, peak RSS {}",
        if p.paced { "paced at the source's frame rate" } else { "as fast as it goes" },
        p.fps,
        e2e.p50_ms,
        e2e.p95_ms,
        e2e.p99_ms,
        p.usage.cpu_percent,
        format_rss(p.usage.peak_rss_mib)
    );
    out.push_str(&report::format_summary(&p.stats));
    out
}

// ---------------------------------------------------------------- soak

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub input: SourceSpec,
    pub synth: SynthSpec,
    pub length: SoakLength,
    /// Memory readings, evenly spaced over the length (the first ends the warm-up).
    pub samples: u32,
    /// At the source's frame rate (a camera's session) rather than as fast as it goes.
    pub paced: bool,
}

/// How long a soak runs.
#[derive(Debug, Clone, Copy)]
pub enum SoakLength {
    /// Wall time: a session's length.
    Wall(Duration),
    /// Frames analysed: the same work on any machine (tests).
    Frames(u64),
}

impl SoakLength {
    /// How far along (0..=1 and beyond) a soak is.
    fn progress(&self, elapsed: Duration, frames_analysed: u64) -> f64 {
        match *self {
            Self::Wall(length) => elapsed.as_secs_f64() / length.as_secs_f64().max(1e-9),
            Self::Frames(frames) => frames_analysed as f64 / frames.max(1) as f64,
        }
    }
}

/// One reading during a soak.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SoakSample {
    pub minutes: f64,
    pub rss_mib: f64,
    pub frames_analysed: u64,
    pub dropped: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    pub input: String,
    pub paced: bool,
    pub samples: Vec<SoakSample>,
    /// Resident memory growth per minute, fitted to every sample after the first (the first
    /// interval is the warm-up: buffers, caches and allocator arenas filling).
    pub slope_mib_per_minute: Option<f64>,
    /// The last sample's memory minus the first's.
    pub growth_after_warm_up_mib: Option<f64>,
    pub cpu_percent: f64,
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
    pub stats: PipelineStats,
}

/// The pipeline over the input played in a loop for `options.length`, reading the memory
/// `options.samples` times (each reading is also passed to `on_sample` as it is taken).
pub fn soak(options: &SoakOptions, stop: &StopFlag, mut on_sample: impl FnMut(&SoakSample)) -> Result<SoakReport, CommandError> {
    let load_before = load_average();
    let models = Models::find()?;
    let (input, synth) = (options.input.clone(), options.synth.clone());
    let source: Box<dyn Source> = Box::new(LoopedSource::new(Box::new(move || open_source(&input, synth.clone())))?);
    let pacing = if options.paced { Pacing::RealTime } else { Pacing::AsFastAsPossible };
    let max_frames = match options.length {
        SoakLength::Frames(frames) => Some(frames),
        SoakLength::Wall(_) => None,
    };
    let start = UsageSample::now();
    let pipeline = Pipeline::start(source, pipeline_config(&models, pacing, max_frames, crate::motion::FlowMethod::default()))?;
    let samples_wanted = options.samples.max(1);
    let mut samples = Vec::new();
    let (finished, end) = run_to_end(pipeline, Duration::from_millis(100), |pipeline| {
        let stats = pipeline.stats();
        let progress = options.length.progress(start.at.elapsed(), stats.frames_analysed);
        if stop.is_raised() || progress >= 1.0 {
            pipeline.stop();
        }
        if samples.len() < samples_wanted as usize && progress >= (samples.len() + 1) as f64 / samples_wanted as f64 {
            let usage = UsageSample::now();
            let sample = SoakSample {
                minutes: usage.at.duration_since(start.at).as_secs_f64() / 60.0,
                rss_mib: usage.rss_bytes.map_or(0.0, |b| b as f64 / MIB),
                frames_analysed: stats.frames_analysed,
                dropped: stats.ring.dropped + stats.output_dropped,
            };
            on_sample(&sample);
            samples.push(sample);
        }
    })?;
    let after_warm_up = samples.get(1..).unwrap_or_default();
    let minutes: Vec<f64> = after_warm_up.iter().map(|s| s.minutes).collect();
    let rss: Vec<f64> = after_warm_up.iter().map(|s| s.rss_mib).collect();
    Ok(SoakReport {
        input: options.input.to_string(),
        paced: options.paced,
        slope_mib_per_minute: slope(&minutes, &rss),
        growth_after_warm_up_mib: (samples.len() >= 2).then(|| samples[samples.len() - 1].rss_mib - samples[0].rss_mib),
        samples,
        cpu_percent: end.cpu_percent_since(&start),
        load_before,
        load_after: load_average(),
        stats: finished.stats,
    })
}

pub fn format_soak_sample(sample: &SoakSample) -> String {
    format!(
        "{:>7.1} min  RSS {:>7.1} MiB  {:>9} frames analysed  {:>6} dropped",
        sample.minutes, sample.rss_mib, sample.frames_analysed, sample.dropped
    )
}

pub fn format_soak(report_: &SoakReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "soak: {}{} for {:.1} min; load average {} before, {} after",
        report_.input,
        if report_.paced { " paced" } else { " as fast as it goes" },
        report_.stats.wall_seconds / 60.0,
        format_load(report_.load_before),
        format_load(report_.load_after)
    );
    let _ = writeln!(
        out,
        "memory after the first sample: {} ({} growth in all); CPU {:.0} %",
        report_.slope_mib_per_minute.map_or_else(|| "too few samples for a slope".into(), |s| format!("{s:+.3} MiB per minute")),
        report_.growth_after_warm_up_mib.map_or_else(|| "no".into(), |g| format!("{g:+.1} MiB")),
        report_.cpu_percent
    );
    out.push_str(&report::format_summary(&report_.stats));
    out
}
