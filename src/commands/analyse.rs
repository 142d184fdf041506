//! `glimpse analyse INPUT --out DIR`: the pipeline headless over a video file, the synthetic face
//! or a camera, writing `DIR/frames.csv`, `DIR/events.csv` and `DIR/events/<id>/*.png` as it goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::capture::{Pacing, Source, SourceSpec, open_source};
use crate::pipeline::{LandmarkSetting, OutputPolicy, Pipeline, PipelineConfig, PipelineStats};
use crate::recognition::AnalysedEvent;
use crate::session::{
    EVENTS_CSV, EVENTS_DIR, EafWriter, EventsCsvWriter, FRAMES_CSV, FramesCsvWriter, SESSION_EAF, SESSION_JSON, SessionError,
    SessionInfo, SessionSettings, save_event_images,
};
use crate::spotting::SpotterConfig;
use crate::synth::{SynthSpec, write_truth_csv};

use super::{CommandError, StopFlag, create_dir, recognition_model, report};

#[derive(Debug, Clone)]
pub struct AnalyseOptions {
    pub input: SourceSpec,
    pub out: PathBuf,
    /// Read a file at its own frame rate, as a camera would deliver it (frames may drop).
    pub paced: bool,
    /// Stop after this many seconds of stream time.
    pub max_seconds: Option<f64>,
    /// Parameters of the synthetic source.
    pub synth: SynthSpec,
    pub spotting: SpotterConfig,
    /// Save each event's pictures under `DIR/events/<id>/`.
    pub event_images: bool,
    pub progress: bool,
    /// Where the landmarks come from.
    pub landmarks: LandmarkSetting,
    pub align_by: crate::face::AlignBy,
}

/// How an analysis ended.
pub struct AnalyseOutcome {
    pub stats: PipelineStats,
    pub warnings: Vec<String>,
    pub frames_csv: PathBuf,
    pub events_csv: PathBuf,
    pub events: Vec<std::sync::Arc<AnalysedEvent>>,
}

/// Runs the analysis the options describe. A source that fails mid-stream (camera unplugged,
/// unreadable frame) still has every frame before the failure written, then returns the error.
pub fn run(options: &AnalyseOptions, stop: &StopFlag) -> Result<AnalyseOutcome, CommandError> {
    let source = open_source(&options.input, options.synth.clone())?;
    create_dir(&options.out)?;
    if options.input == SourceSpec::Synthetic {
        let truth = crate::synth::SyntheticFace::new(options.synth.clone())?;
        write_truth_csv(&options.out.join("truth.csv"), truth.truth())?;
    }
    let mut warnings = Vec::new();
    let config = PipelineConfig {
        pacing: if options.paced { Pacing::RealTime } else { Pacing::AsFastAsPossible },
        output: OutputPolicy::Lossless,
        max_seconds: options.max_seconds,
        spotting: options.spotting,
        mer_model: recognition_model(&mut warnings)?,
        landmarks: options.landmarks.clone(),
        face: crate::face::FaceConfig { align_by: options.align_by, ..Default::default() },
        ..PipelineConfig::default()
    };
    let media = match &options.input {
        SourceSpec::File(path) => Some(path.clone()),
        _ => None,
    };
    write_session_json(&options.out, source.info(), &config)?;
    let mut outcome =
        analyse_source_with_media(source, config, &options.out, media.as_deref(), options.event_images, options.progress, stop)?;
    warnings.append(&mut outcome.warnings);
    outcome.warnings = warnings;
    Ok(outcome)
}

/// `DIR/session.json`: the source, the settings and the model files (with sha256) of a run.
fn write_session_json(out: &Path, source: &crate::capture::SourceInfo, config: &PipelineConfig) -> Result<(), CommandError> {
    use crate::inference::{LANDMARKS_FILE, MER_FILE, inspect_model, models_dir};
    let landmarks = match &config.landmarks {
        LandmarkSetting::Auto => Some(models_dir().join(LANDMARKS_FILE)).filter(|p| p.is_file()),
        LandmarkSetting::Off => None,
        LandmarkSetting::File(path) => Some(path.clone()),
    };
    let mut models: Vec<_> = landmarks.iter().map(|path| inspect_model(LANDMARKS_FILE, path)).collect();
    models.extend(config.mer_model.iter().map(|path| inspect_model(MER_FILE, path)));
    let settings = SessionSettings {
        paced: config.pacing == Pacing::RealTime,
        landmarks: config.landmarks.clone(),
        align_by: config.face.align_by,
        motion: config.motion,
        spotting: config.spotting,
    };
    SessionInfo::new(source.clone(), settings, models).write(&out.join(SESSION_JSON))?;
    Ok(())
}

/// `events.csv`, `session.eaf` and the event pictures, written as each event arrives.
struct EventSink {
    csv: EventsCsvWriter,
    eaf: EafWriter,
    images: Option<PathBuf>,
    events: Vec<std::sync::Arc<AnalysedEvent>>,
}

impl EventSink {
    fn write(&mut self, analysed: &std::sync::Arc<AnalysedEvent>) -> Result<(), SessionError> {
        self.events.push(analysed.clone());
        self.csv.write(analysed)?;
        self.eaf.add(analysed)?;
        if let Some(dir) = &self.images {
            save_event_images(dir, analysed)?;
        }
        Ok(())
    }
}

/// The analysis loop, for any source (tests pass their own).
pub fn analyse_source(
    source: Box<dyn Source>,
    config: PipelineConfig,
    out: &Path,
    event_images: bool,
    progress: bool,
    stop: &StopFlag,
) -> Result<AnalyseOutcome, CommandError> {
    analyse_source_with_media(source, config, out, None, event_images, progress, stop)
}

/// As [`analyse_source`]; `media` is the video the events' times refer to (linked from
/// `session.eaf`), when there is one.
pub fn analyse_source_with_media(
    source: Box<dyn Source>,
    config: PipelineConfig,
    out: &Path,
    media: Option<&Path>,
    event_images: bool,
    progress: bool,
    stop: &StopFlag,
) -> Result<AnalyseOutcome, CommandError> {
    create_dir(out)?;
    let frames_path = out.join(FRAMES_CSV);
    let mut writer = FramesCsvWriter::create(&frames_path)?;
    let events_path = out.join(EVENTS_CSV);
    let mut sink = EventSink {
        csv: EventsCsvWriter::create(&events_path)?,
        eaf: EafWriter::create(&out.join(SESSION_EAF), media, Some(&frames_path))?,
        images: event_images.then(|| out.join(EVENTS_DIR)),
        events: Vec::new(),
    };
    let total = source.info().frame_count;
    let limited = config.max_frames.is_some() || config.max_seconds.is_some();
    let pipeline = Pipeline::start(source, config)?;

    let bar = if progress { ProgressBar::new(total.unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut write_error = None;
    loop {
        if stop.is_raised() {
            pipeline.stop();
        }
        match pipeline.results().recv_timeout(Duration::from_millis(200)) {
            Ok(analysis) => {
                if write_error.is_none() {
                    let written = writer.write(&analysis).and_then(|()| analysis.events.iter().try_for_each(|e| sink.write(e)));
                    if let Err(error) = written {
                        // Keep what is written; stop reading and let the pipeline wind down.
                        pipeline.stop();
                        write_error = Some(error);
                    }
                }
                bar.inc(1);
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    bar.finish_and_clear();
    let report = pipeline.finish()?;
    if write_error.is_none() {
        write_error = report.late_events.iter().try_for_each(|e| sink.write(e)).err();
    }
    if let Some(error) = write_error {
        return Err(error.into());
    }
    if let Some(error) = report.capture_error {
        eprint!("{}", report::format_summary(&report.stats));
        return Err(error.into());
    }
    let read_to_end = report.completed && !limited;
    let warnings = report::warnings(&report.stats, read_to_end);
    Ok(AnalyseOutcome { stats: report.stats, warnings, frames_csv: frames_path, events_csv: events_path, events: sink.events })
}
