//! `glimpse analyse INPUT --out DIR [--record]`: the pipeline headless over a video file, the
//! synthetic face or a camera, with the session recorder writing `DIR/frames.csv`,
//! `DIR/events.csv`, `DIR/events/<id>/*.png`, `DIR/session.eaf`, `DIR/session.json` and, when
//! recording, `DIR/video.mp4` as it goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::capture::{CaptureError, Pacing, RECONNECT_SECONDS, Source, SourceKind, SourceSpec, open_source};
use crate::pipeline::{LandmarkSetting, OutputPolicy, Pipeline, PipelineConfig, PipelineStats};
use crate::recognition::AnalysedEvent;
use crate::recording::{Recorder, RecorderConfig, WhenFull};
use crate::session::{EVENTS_CSV, FRAMES_CSV, RecordingInfo, SessionInfo};
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
    pub flow: crate::motion::FlowMethod,
    /// Record the session's video (`DIR/video.mp4`), on a time line starting at its first frame.
    pub record: bool,
    /// Reopen a camera that is lost mid-session (every [`RECONNECT_SECONDS`] until it comes
    /// back or the run is stopped), going on with the same session folder.
    pub reconnect: bool,
}

/// How a headless run gets a lost camera back: `reopen` is tried every `every` until it gives a
/// source or the run is stopped.
pub struct Reconnect<'a> {
    pub reopen: &'a dyn Fn() -> Result<Box<dyn Source>, CaptureError>,
    pub every: Duration,
}

/// How an analysis ended.
pub struct AnalyseOutcome {
    pub stats: PipelineStats,
    pub warnings: Vec<String>,
    pub frames_csv: PathBuf,
    pub events_csv: PathBuf,
    /// The events, each on its stream's time line (a reopened camera starts a new stream).
    pub events: Vec<std::sync::Arc<AnalysedEvent>>,
    /// The recorder's account (also in `DIR/session.json`).
    pub recording: RecordingInfo,
}

/// Runs the analysis the options describe. A source that fails mid-stream (camera unplugged,
/// unreadable frame) still has every frame before the failure written, then returns the error;
/// a lost camera is reopened instead when `reconnect` is set.
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
        motion: crate::motion::MotionConfig { flow: options.flow, ..Default::default() },
        keep_images: options.record,
        ..PipelineConfig::default()
    };
    let mut recorder = session_recorder(&options.out, source.as_ref(), &config, options.record);
    recorder.event_images = options.event_images;
    if let SourceSpec::File(path) = &options.input {
        recorder.media = Some(path.clone());
    }
    let reopen = || open_source(&options.input, options.synth.clone());
    let reconnect = (options.reconnect && matches!(options.input, SourceSpec::Camera(_)))
        .then(|| Reconnect { reopen: &reopen, every: Duration::from_secs_f64(RECONNECT_SECONDS) });
    let mut outcome = analyse_into(source, config, recorder, options.progress, stop, reconnect)?;
    warnings.append(&mut outcome.warnings);
    outcome.warnings = warnings;
    Ok(outcome)
}

/// Tries `reconnect.reopen` until it gives a source; `None` once the run is stopped.
fn wait_for_source(reconnect: &Reconnect, stop: &StopFlag) -> Option<Box<dyn Source>> {
    loop {
        let next_try = std::time::Instant::now() + reconnect.every;
        while std::time::Instant::now() < next_try {
            if stop.is_raised() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20).min(reconnect.every));
        }
        match (reconnect.reopen)() {
            Ok(source) => return Some(source),
            Err(error) => tracing::debug!("camera not back yet: {error}"),
        }
    }
}

/// How a session folder is recorded from `source`: with the video (and a time line from the
/// first recorded frame) or without; waiting for the disk when the source can wait, dropping
/// (and counting) frames when it is live.
pub fn session_recorder(out: &Path, source: &dyn Source, config: &PipelineConfig, video: bool) -> RecorderConfig {
    let live = source.info().kind == SourceKind::Camera || config.pacing == Pacing::RealTime;
    RecorderConfig {
        video,
        restart_timeline: video,
        when_full: if live { WhenFull::Drop } else { WhenFull::Wait },
        nominal_fps: source.info().nominal_fps,
        ..RecorderConfig::new(out)
    }
}

/// The analysis loop without video, for any source (tests and the evaluation pass their own).
pub fn analyse_source(
    source: Box<dyn Source>,
    config: PipelineConfig,
    out: &Path,
    event_images: bool,
    progress: bool,
    stop: &StopFlag,
) -> Result<AnalyseOutcome, CommandError> {
    let recorder = RecorderConfig { event_images, ..session_recorder(out, source.as_ref(), &config, false) };
    analyse_into(source, config, recorder, progress, stop, None)
}

/// Runs the pipeline over `source`, handing every result to a session recorder. With
/// `reconnect`, a lost camera is reopened and the new stream recorded on after the old one, each
/// stream with a fresh pipeline (tracker and spotter start again); Ctrl-C while waiting ends the
/// session as a stop would.
pub fn analyse_into(
    source: Box<dyn Source>,
    config: PipelineConfig,
    recorder: RecorderConfig,
    progress: bool,
    stop: &StopFlag,
    reconnect: Option<Reconnect>,
) -> Result<AnalyseOutcome, CommandError> {
    let out = recorder.dir.clone();
    let mut recorder = Recorder::start(recorder, SessionInfo::describe(source.info(), &config))?;
    let total = source.info().frame_count;
    let limited = config.max_frames.is_some() || config.max_seconds.is_some();

    let bar = if progress { ProgressBar::new(total.unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut events = Vec::new();
    let mut record_error = None;
    let mut losses = Vec::new();
    let mut last_loss = "it came back each time";
    let mut source = source;
    // `max_seconds` is for the whole session: each reopened stream gets what the ones before left.
    let mut streams_seconds = 0.0;
    let report = loop {
        let stream_config = PipelineConfig { max_seconds: config.max_seconds.map(|max| max - streams_seconds), ..config.clone() };
        let pipeline = match Pipeline::start(source, stream_config) {
            Ok(pipeline) => pipeline,
            Err(error) => {
                bar.finish_and_clear();
                let _ = recorder.finish(); // what earlier streams wrote stays whole
                return Err(error.into());
            }
        };
        let mut stream_seconds = 0.0;
        loop {
            if stop.is_raised() {
                pipeline.stop();
            }
            match pipeline.results().recv_timeout(Duration::from_millis(200)) {
                Ok(analysis) => {
                    stream_seconds = analysis.time.seconds;
                    if record_error.is_none() {
                        events.extend(analysis.events.iter().cloned());
                        if let Err(error) = recorder.record(&analysis) {
                            // Keep what is written; stop reading and let the pipeline wind down.
                            pipeline.stop();
                            record_error = Some(error);
                        }
                    }
                    bar.inc(1);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let mut report = pipeline.finish()?;
        if record_error.is_none() {
            recorder.record_events(&report.late_events);
            events.extend(report.late_events.iter().cloned());
        }
        let Some(reconnect) = reconnect.as_ref().filter(|_| record_error.is_none() && !stop.is_raised()) else {
            break report;
        };
        let Some(error @ CaptureError::CameraLost { .. }) = report.capture_error.take() else {
            break report;
        };
        losses.push(error.to_string());
        streams_seconds += stream_seconds;
        if config.max_seconds.is_some_and(|max| streams_seconds >= max) {
            last_loss = "the session's --max-seconds were used up when it was last lost";
            break report;
        }
        bar.suspend(|| {
            eprint!("{}", report::format_summary(&report.stats));
            eprintln!(
                "{error}\nreopening the camera every {:.0} s; the session goes on in {} (Ctrl-C ends it)",
                reconnect.every.as_secs_f64(),
                out.display()
            )
        });
        match wait_for_source(reconnect, stop) {
            Some(reopened) => {
                bar.suspend(|| eprintln!("camera back: {}", reopened.info().name));
                recorder.source_restarted();
                source = reopened;
            }
            None => {
                last_loss = "it had not come back when the run was stopped";
                break report;
            }
        }
    };
    bar.finish_and_clear();
    let recording = recorder.finish();
    let recording = match (record_error, recording) {
        (Some(error), _) | (None, Err(error)) => {
            eprint!("{}", report::format_summary(&report.stats));
            return Err(error.into());
        }
        (None, Ok(recording)) => recording,
    };
    if let Some(error) = report.capture_error {
        eprint!("{}", report::format_summary(&report.stats));
        return Err(error.into());
    }
    let read_to_end = report.completed && !limited;
    let mut warnings = report::warnings(&report.stats, read_to_end);
    if !losses.is_empty() {
        warnings.push(format!(
            "the camera was lost {} time(s) ({}); {last_loss}; the session folder holds every stream, the summary above covers the last one",
            losses.len(),
            losses.join("; ")
        ));
    }
    if recording.frames_dropped > 0 {
        warnings.push(format!(
            "the disk could not keep up: {} frames were not recorded (frames.csv and the video skip them alike)",
            recording.frames_dropped
        ));
    }
    Ok(AnalyseOutcome {
        stats: report.stats,
        warnings,
        frames_csv: out.join(FRAMES_CSV),
        events_csv: out.join(EVENTS_CSV),
        events,
        recording,
    })
}
