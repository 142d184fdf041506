//! The pipeline: capture thread -> ring -> face thread -> motion thread (motion, then the
//! spotter) -> results channel; each spotted event goes to the events thread (recognition, AU
//! guess, pictures) and comes back attached to the next frame's result.
//!
//! The same object runs under the window, headless (`glimpse analyse`) and in benchmarks; it
//! does not know which. Each stage times itself; the ring and the channels count what they drop.

pub mod timing;
pub mod usage;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::buffer::{DropStats, FrameRing, Pop};
use crate::capture::{
    CaptureError, CaptureHandle, CaptureOptions, Frame, FrameTime, Pacing, Source, SourceInfo, monotonic_ns, spawn_capture,
};
use crate::face::{FaceConfig, FaceError, FaceResult, FaceStage, FaceTrack};
use crate::inference::{InferenceError, Recogniser};
use crate::motion::{DisFlow, FlowEstimator, FlowMethod, FrameMotion, MotionAnalyser, MotionConfig, MotionError, MotionStage};
use crate::recognition::{AnalysedEvent, EventAnalyser, RecognitionError};
use crate::spotting::{Calibration, EventFrames, SpotSample, SpotterConfig, SpotterCounters, SpottingStage};

pub use timing::{LatencyHistogram, StageTimer, TimingSummary};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Face(#[from] FaceError),
    #[error(transparent)]
    Motion(#[from] MotionError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Recognition(#[from] RecognitionError),
    #[error("OpenCV error in the spotting stage: {0}")]
    Spotting(#[from] opencv::Error),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// What happens when whoever reads the results falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPolicy {
    /// Wait for the reader: every analysed frame is delivered (files, recordings).
    Lossless,
    /// Drop the oldest undelivered result and count it: the analysis never slows for a display.
    DropOldest,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub ring_capacity: usize,
    pub pacing: Pacing,
    pub output: OutputPolicy,
    pub face: FaceConfig,
    pub motion: MotionConfig,
    pub spotting: SpotterConfig,
    /// The MER model (`models/mer.onnx`); without one, events get no emotion.
    pub mer_model: Option<PathBuf>,
    /// Stop after this many frames / seconds of stream time.
    pub max_frames: Option<u64>,
    pub max_seconds: Option<f64>,
    /// Keep each frame's image in its result (for a display); headless runs leave it out.
    pub keep_images: bool,
    /// Where the 68 landmarks come from (alignment falls back to the face box without them).
    pub landmarks: LandmarkSetting,
}

/// Which landmark model the face stage uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub enum LandmarkSetting {
    /// `models/landmarks.onnx` when it is there (found like the other models); without it,
    /// box alignment and a warning. A file that is there but broken is an error.
    #[default]
    Auto,
    /// No landmarks: align by the face box.
    Off,
    /// This model file; an error if it cannot be loaded.
    File(std::path::PathBuf),
}

impl LandmarkSetting {
    /// The landmark detector this setting gives, if any.
    pub fn load(&self) -> Result<Option<crate::inference::Landmarker>, crate::inference::InferenceError> {
        use crate::inference::{LANDMARKS_FILE, Landmarker, models_dir};
        match self {
            Self::Off => Ok(None),
            Self::File(path) => Landmarker::load(path).map(Some),
            Self::Auto => {
                let path = models_dir().join(LANDMARKS_FILE);
                if !path.is_file() {
                    tracing::warn!(
                        "{} not found: aligning faces by their box, without landmarks (frames.csv leaves x_*, y_* empty)",
                        path.display()
                    );
                    return Ok(None);
                }
                Landmarker::load(&path).map(Some)
            }
        }
    }
}

/// The flow estimator `method` names; the model is found like the other models, and a missing
/// or broken one is an error naming the file.
pub fn flow_estimator(method: FlowMethod) -> Result<Box<dyn FlowEstimator>, PipelineError> {
    use crate::inference::{FLOW_FILE, OnnxFlow, models_dir};
    Ok(match method {
        FlowMethod::Dis => Box::new(DisFlow::new()?),
        FlowMethod::Onnx => Box::new(OnnxFlow::load(&models_dir().join(FLOW_FILE))?),
        FlowMethod::Farneback => Box::new(crate::motion::FarnebackFlow),
        FlowMethod::Tvl1 => Box::new(crate::recognition::TvL1Flow::new()?),
        FlowMethod::OnnxVr => Box::new(crate::motion::RefinedFlow::new(
            Box::new(OnnxFlow::load(&models_dir().join(FLOW_FILE))?),
            crate::motion::REFINEMENT_ITERATIONS,
        )?),
    })
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            ring_capacity: 8,
            pacing: Pacing::AsFastAsPossible,
            output: OutputPolicy::Lossless,
            face: FaceConfig::default(),
            motion: MotionConfig::default(),
            spotting: SpotterConfig::default(),
            mer_model: None,
            max_frames: None,
            max_seconds: None,
            keep_images: false,
            landmarks: LandmarkSetting::Auto,
        }
    }
}

/// Everything the pipeline knows about one frame.
pub struct FrameAnalysis {
    pub index: u64,
    pub time: FrameTime,
    pub frame_width: i32,
    pub frame_height: i32,
    pub face: Option<FaceTrack>,
    /// OpenFace's `success`: the face was found with enough confidence to be measured.
    pub success: bool,
    pub confidence: f32,
    /// Frame pixels -> aligned crop pixels, as this frame was aligned (to draw crop-space
    /// motion over the frame).
    pub to_crop: Option<crate::face::Similarity>,
    /// Facial motion against the frame `lag_ms` earlier; `None` without a face or history.
    pub motion: Option<FrameMotion>,
    /// The spotter's view of this frame.
    pub spot: SpotSample,
    /// Events whose analysis finished since the previous delivered result (possibly ended
    /// some frames ago).
    pub events: Vec<Arc<AnalysedEvent>>,
    /// The class probabilities of the latest recognised micro-expression.
    pub probabilities: Option<[f32; 3]>,
    /// The neutral-baseline calibration's state at this frame.
    pub calibration: Calibration,
    /// Capture-to-result latency.
    pub latency: Duration,
    pub image: Option<opencv::core::Mat>,
}

/// Timings and counters of a running or finished pipeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineStats {
    pub source: SourceInfo,
    pub frames_read: u64,
    pub frames_analysed: u64,
    pub faces_found: u64,
    pub ring: DropStats,
    pub output_dropped: u64,
    pub stages: Vec<(String, TimingSummary)>,
    /// Time per spotted event in the events thread (recognition, AU guess, pictures).
    pub event_analysis: TimingSummary,
    pub spotter: SpotterCounters,
    /// Events passed on without analysis because the events thread was behind.
    pub events_unanalysed: u64,
    pub end_to_end: TimingSummary,
    pub wall_seconds: f64,
}

impl PipelineStats {
    pub fn analysis_fps(&self) -> f64 {
        if self.wall_seconds > 0.0 { self.frames_analysed as f64 / self.wall_seconds } else { 0.0 }
    }

    /// What spotting and event analysis cost per analysed frame on average: the spotter's own
    /// time plus the events thread's time spread over all frames.
    pub fn spotting_cost_per_frame_ms(&self) -> Option<f64> {
        let spotting = self.stages.iter().find(|(name, _)| name == "spotting")?.1;
        if spotting.count == 0 {
            return None;
        }
        let events_ms = self.event_analysis.mean_ms * self.event_analysis.count as f64;
        Some(spotting.mean_ms + events_ms / spotting.count as f64)
    }

    pub fn face_found_percent(&self) -> f64 {
        if self.frames_analysed > 0 { 100.0 * self.faces_found as f64 / self.frames_analysed as f64 } else { 0.0 }
    }
}

struct Metrics {
    read: Arc<StageTimer>,
    face: StageTimer,
    motion: StageTimer,
    spotting: StageTimer,
    event_analysis: StageTimer,
    end_to_end: StageTimer,
    analysed: AtomicU64,
    faces: AtomicU64,
    output_dropped: AtomicU64,
    events_unanalysed: AtomicU64,
    spotter: Mutex<SpotterCounters>,
    /// Events analysed after the last frame was delivered (the end of the stream).
    late_events: Mutex<Vec<Arc<AnalysedEvent>>>,
}

/// Changes to a running spotter, from the window's controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpotterControl {
    SetSensitivity(f32),
    /// Start a neutral-baseline calibration of this many milliseconds.
    Calibrate(f64),
    ClearCalibration,
}

/// A running pipeline. Read results from [`Pipeline::results`]; call [`Pipeline::finish`] at the
/// end of the stream (or after [`Pipeline::stop`]).
pub struct Pipeline {
    capture: CaptureHandle,
    ring: Arc<FrameRing<Frame>>,
    workers: Vec<(&'static str, JoinHandle<Result<(), PipelineError>>)>,
    results: Receiver<FrameAnalysis>,
    controls: Sender<SpotterControl>,
    metrics: Arc<Metrics>,
    started: Instant,
}

/// How a pipeline ended.
pub struct PipelineReport {
    pub stats: PipelineStats,
    /// The source's own failure (a camera unplugged, an unreadable frame); what came before it
    /// was analysed and delivered.
    pub capture_error: Option<CaptureError>,
    pub completed: bool,
    /// Events analysed after the last frame was delivered (found at the end of the stream, or
    /// still being analysed then), in order.
    pub late_events: Vec<Arc<AnalysedEvent>>,
}

impl Pipeline {
    /// Builds every stage (so configuration errors surface before any thread starts), then
    /// starts the threads.
    pub fn start(source: Box<dyn Source>, config: PipelineConfig) -> Result<Self, PipelineError> {
        let flow = flow_estimator(config.motion.flow)?;
        let mut face = FaceStage::new(config.face.clone())?;
        if let Some(landmarker) = config.landmarks.load()? {
            face = face.with_landmarks(Box::new(landmarker));
        }
        Self::start_with(source, config, face, flow)
    }

    /// As [`Pipeline::start`], with the face stage and flow estimator given (landmark and flow
    /// models plug in here).
    pub fn start_with(
        source: Box<dyn Source>,
        config: PipelineConfig,
        mut face_stage: FaceStage,
        flow: Box<dyn FlowEstimator>,
    ) -> Result<Self, PipelineError> {
        let crop_size = face_stage.aligner().size() as usize;
        let mut motion_stage = MotionStage::new(MotionAnalyser::new(flow, crop_size), config.motion);
        let recogniser = config.mer_model.as_deref().map(Recogniser::load).transpose()?;
        let mut event_analyser = EventAnalyser::new(crop_size, flow_estimator(config.motion.flow)?, recogniser)?;
        let mut spotting = SpottingStage::new(config.spotting);
        let read_timer = Arc::new(StageTimer::new("read"));
        let metrics = Arc::new(Metrics {
            read: read_timer.clone(),
            face: StageTimer::new("face"),
            motion: StageTimer::new("motion"),
            spotting: StageTimer::new("spotting"),
            event_analysis: StageTimer::new("event_analysis"),
            end_to_end: StageTimer::new("end_to_end"),
            analysed: AtomicU64::new(0),
            faces: AtomicU64::new(0),
            output_dropped: AtomicU64::new(0),
            events_unanalysed: AtomicU64::new(0),
            spotter: Mutex::new(SpotterCounters::default()),
            late_events: Mutex::new(Vec::new()),
        });

        let ring = Arc::new(FrameRing::<Frame>::new(config.ring_capacity));
        let mut options = CaptureOptions::for_source(source.as_ref(), config.pacing);
        options.max_frames = config.max_frames;
        options.max_seconds = config.max_seconds;

        let (to_motion, from_face) = bounded::<(Frame, FaceResult)>(4);
        let (to_output, results) = bounded::<FrameAnalysis>(64);
        let (to_events, events_in) = bounded::<EventFrames>(8);
        let (events_out, from_events) = bounded::<AnalysedEvent>(64);
        let (controls, control_in) = crossbeam_channel::unbounded::<SpotterControl>();
        let mut workers = Vec::new();

        let events_thread = {
            let metrics = metrics.clone();
            std::thread::Builder::new().name("events".into()).spawn(move || -> Result<(), PipelineError> {
                for frames in events_in {
                    let started = Instant::now();
                    let analysed = event_analyser.analyse(frames);
                    metrics.event_analysis.record(started.elapsed());
                    if events_out.send(analysed).is_err() {
                        break;
                    }
                }
                Ok(())
            })
        }
        .map_err(|e| PipelineError::Thread("events", e))?;

        let face_thread = {
            let ring = ring.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new().name("face".into()).spawn(move || -> Result<(), PipelineError> {
                let outcome = (|| loop {
                    let frame = match ring.pop_timeout(Duration::from_millis(100)) {
                        Pop::Item(frame) => frame,
                        Pop::Empty => continue,
                        Pop::Closed => return Ok(()),
                    };
                    let started = Instant::now();
                    let result = face_stage.process(&frame)?;
                    metrics.face.record(started.elapsed());
                    if to_motion.send((frame, result)).is_err() {
                        return Ok(());
                    }
                })();
                // Unblock a capture thread waiting for room if this stage stopped early.
                ring.close();
                outcome
            })
        }
        .map_err(|e| PipelineError::Thread("face", e))?;
        workers.push(("face", face_thread));

        let motion_thread = {
            let metrics = metrics.clone();
            let policy = config.output;
            let keep_images = config.keep_images;
            // Only a dropping policy may pull from its own output; a lossless one must see the
            // channel disconnect when the reader goes away.
            let drain = (policy == OutputPolicy::DropOldest).then(|| results.clone());
            std::thread::Builder::new().name("motion".into()).spawn(move || -> Result<(), PipelineError> {
                let mut probabilities = None;
                for (frame, face) in from_face {
                    let started = Instant::now();
                    let success = face.success();
                    let measured = match (&face.track, &face.aligned) {
                        (Some(track), Some(aligned)) if success => Some((track.id, aligned)),
                        _ => None,
                    };
                    let motion = motion_stage.process(frame.index, frame.time.seconds, measured)?;
                    metrics.motion.record(started.elapsed());

                    let started = Instant::now();
                    for control in control_in.try_iter() {
                        let spotter = spotting.spotter_mut();
                        match control {
                            SpotterControl::SetSensitivity(k) => spotter.set_sensitivity(k),
                            SpotterControl::Calibrate(ms) => spotter.start_calibration(frame.time.seconds, ms),
                            SpotterControl::ClearCalibration => spotter.clear_calibration(),
                        }
                    }
                    let crop = measured.map(|(id, aligned)| (id, &aligned.image));
                    let (spot, found) = spotting.process(frame.index, frame.time.seconds, crop, motion.as_ref())?;
                    let mut events = Vec::new();
                    if let Some(found) = found {
                        pass_on(found, &to_events, &mut events, &metrics);
                    }
                    for analysed in from_events.try_iter() {
                        if let Some(recognition) = &analysed.recognition {
                            probabilities = Some(recognition.probabilities);
                        }
                        events.push(Arc::new(analysed));
                    }
                    let calibration = spotting.spotter().calibration();
                    metrics.spotting.record(started.elapsed());

                    let latency = Duration::from_nanos(monotonic_ns().saturating_sub(frame.time.capture_ns));
                    metrics.end_to_end.record(latency);
                    metrics.analysed.fetch_add(1, Ordering::Relaxed);
                    if success {
                        metrics.faces.fetch_add(1, Ordering::Relaxed);
                    }
                    let analysis = FrameAnalysis {
                        index: frame.index,
                        time: frame.time,
                        frame_width: frame.width(),
                        frame_height: frame.height(),
                        confidence: face.confidence(),
                        success,
                        face: face.track,
                        to_crop: face.aligned.as_ref().map(|a| a.to_crop),
                        motion,
                        spot,
                        events,
                        probabilities,
                        calibration,
                        latency,
                        image: keep_images.then_some(frame.image),
                    };
                    if !deliver(&to_output, drain.as_ref(), analysis, policy, &metrics.output_dropped) {
                        break;
                    }
                }
                // The end of the stream: close what the spotter still holds and collect every
                // event still being analysed.
                let mut late = Vec::new();
                if let Some(found) = spotting.finish()? {
                    pass_on(found, &to_events, &mut late, &metrics);
                }
                if let Ok(mut counters) = metrics.spotter.lock() {
                    *counters = spotting.spotter().counters();
                }
                drop(to_events);
                late.extend(from_events.iter().map(Arc::new));
                if let Ok(mut store) = metrics.late_events.lock() {
                    store.extend(late);
                }
                Ok(())
            })
        }
        .map_err(|e| PipelineError::Thread("motion", e))?;
        workers.push(("motion", motion_thread));
        workers.push(("events", events_thread));

        let capture = spawn_capture(source, ring.clone(), options, read_timer);
        Ok(Self { capture, ring, workers, results, controls, metrics, started: Instant::now() })
    }

    pub fn source(&self) -> &SourceInfo {
        self.capture.info()
    }

    pub fn results(&self) -> &Receiver<FrameAnalysis> {
        &self.results
    }

    /// Sends a change to the running spotter (applied before the next frame is spotted).
    pub fn control(&self, control: SpotterControl) {
        // The motion thread may have ended; then there is nothing left to control.
        let _ = self.controls.send(control);
    }

    /// Stops reading the source; frames already read are still analysed and delivered.
    pub fn stop(&self) {
        self.capture.request_stop();
    }

    pub fn stats(&self) -> PipelineStats {
        collect_stats(self.capture.info(), self.capture.frames_read(), &self.ring, &self.metrics, self.started)
    }

    /// Waits for every thread (the caller must have drained or dropped the results it wants)
    /// and reports how the run ended.
    pub fn finish(self) -> Result<PipelineReport, PipelineError> {
        let Pipeline { capture, ring, workers, results, controls: _, metrics, started } = self;
        let info = capture.info().clone();
        let outcome = capture.join();
        // Results nobody reads any more must not block the workers.
        drop(results);
        let mut first_error = None;
        for (name, worker) in workers {
            match worker.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(_) => {
                    first_error.get_or_insert(PipelineError::Panicked(name));
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let stats = collect_stats(&info, outcome.frames_read, &ring, &metrics, started);
        let late_events = metrics.late_events.lock().map(|mut store| std::mem::take(&mut *store)).unwrap_or_default();
        Ok(PipelineReport { stats, capture_error: outcome.error, completed: outcome.completed, late_events })
    }
}

fn collect_stats(
    source: &SourceInfo,
    frames_read: u64,
    ring: &FrameRing<Frame>,
    metrics: &Metrics,
    started: Instant,
) -> PipelineStats {
    PipelineStats {
        source: source.clone(),
        frames_read,
        frames_analysed: metrics.analysed.load(Ordering::Relaxed),
        faces_found: metrics.faces.load(Ordering::Relaxed),
        ring: ring.stats(),
        output_dropped: metrics.output_dropped.load(Ordering::Relaxed),
        stages: [&*metrics.read, &metrics.face, &metrics.motion, &metrics.spotting]
            .iter()
            .map(|timer| (timer.name().to_owned(), timer.summary()))
            .collect(),
        event_analysis: metrics.event_analysis.summary(),
        spotter: metrics.spotter.lock().map(|c| *c).unwrap_or_default(),
        events_unanalysed: metrics.events_unanalysed.load(Ordering::Relaxed),
        end_to_end: metrics.end_to_end.summary(),
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// Hands a spotted event to the events thread; when that is behind, the event goes on as the
/// spotter found it (counted) rather than holding up the analysis.
fn pass_on(found: EventFrames, to_events: &Sender<EventFrames>, events: &mut Vec<Arc<AnalysedEvent>>, metrics: &Metrics) {
    match to_events.try_send(found) {
        Ok(()) => {}
        Err(TrySendError::Full(found) | TrySendError::Disconnected(found)) => {
            metrics.events_unanalysed.fetch_add(1, Ordering::Relaxed);
            events.push(Arc::new(AnalysedEvent::unanalysed(found.event, "the events thread was behind".into())));
        }
    }
}

/// Sends a result by the output policy; false when nobody listens any more.
fn deliver(
    to_output: &Sender<FrameAnalysis>,
    drain: Option<&Receiver<FrameAnalysis>>,
    analysis: FrameAnalysis,
    policy: OutputPolicy,
    dropped: &AtomicU64,
) -> bool {
    match (policy, drain) {
        (OutputPolicy::Lossless, _) | (_, None) => to_output.send(analysis).is_ok(),
        (OutputPolicy::DropOldest, Some(drain)) => {
            let mut analysis = analysis;
            loop {
                match to_output.try_send(analysis) {
                    Ok(()) => return true,
                    Err(TrySendError::Disconnected(_)) => return false,
                    Err(TrySendError::Full(back)) => {
                        analysis = back;
                        if let Ok(mut oldest) = drain.try_recv() {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            // A dropped frame's events are not dropped: they ride on the newer one.
                            if !oldest.events.is_empty() {
                                oldest.events.append(&mut analysis.events);
                                analysis.events = oldest.events;
                            }
                        }
                    }
                }
            }
        }
    }
}
