//! The pipeline behind the window: opened, stopped and finished on threads of their own, so the
//! UI thread never waits for a camera to open or a thread to join. A lost camera is retried
//! every few seconds; the synthetic demo loops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError, bounded};

use crate::capture::{CaptureError, Pacing, RECONNECT_SECONDS, Source, SourceInfo, SourceKind, SourceSpec, open_source};
use crate::pipeline::{FrameAnalysis, OutputPolicy, Pipeline, PipelineConfig, PipelineStats, SpotterControl};
use crate::spotting::SpotterConfig;
use crate::synth::SynthSpec;

enum Phase {
    Stopped,
    Opening { started: Instant, reply: Receiver<Result<Pipeline, OpenFailure>> },
    Running(Pipeline),
    Closing { reply: Receiver<Ended>, user_stop: bool },
    Reconnecting { next_try: Instant },
}

struct OpenFailure {
    message: String,
}

struct Ended {
    capture_error: Option<String>,
    error: Option<String>,
}

/// What the runner tells the window after [`Runner::poll`].
#[derive(Debug, Clone)]
pub enum RunnerEvent {
    Started(SourceInfo),
    /// The stream ended; `restarting` when it comes back by itself (demo loop, reconnection).
    Ended {
        message: Option<String>,
        restarting: bool,
    },
}

/// Opens a source by its spec ([`open_source`]; tests give simulated cameras).
pub type Opener = Arc<dyn Fn(&SourceSpec, SynthSpec) -> Result<Box<dyn Source>, CaptureError> + Send + Sync>;

pub struct Runner {
    opener: Opener,
    spec: SourceSpec,
    synth: SynthSpec,
    /// The spotter's settings for the next pipeline (the running one gets changes as controls).
    spotting: SpotterConfig,
    /// The MER model, when there is one that loads.
    mer_model: Option<PathBuf>,
    phase: Phase,
    /// The source of the running pipeline.
    info: Option<SourceInfo>,
    last_stats: Option<PipelineStats>,
    /// A message to show: why it stopped, what failed.
    pub notice: Option<String>,
    /// A camera that was working stopped: reopen it until it comes back.
    reconnecting: bool,
}

impl Runner {
    pub fn new(spec: SourceSpec, synth: SynthSpec, spotting: SpotterConfig, mer_model: Option<PathBuf>) -> Self {
        Self {
            opener: Arc::new(|spec: &SourceSpec, synth| open_source(spec, synth)),
            spec,
            synth,
            spotting,
            mer_model,
            phase: Phase::Stopped,
            info: None,
            last_stats: None,
            notice: None,
            reconnecting: false,
        }
    }

    /// Opens sources with `opener` instead of [`open_source`].
    pub fn with_opener(mut self, opener: Opener) -> Self {
        self.opener = opener;
        self
    }

    pub fn spec(&self) -> &SourceSpec {
        &self.spec
    }

    pub fn info(&self) -> Option<&SourceInfo> {
        self.info.as_ref()
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    pub fn is_opening(&self) -> bool {
        matches!(self.phase, Phase::Opening { .. })
    }

    /// Stopped by the user or by an error (not reconnecting, not looping).
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// Seconds until the next reconnection attempt, while a camera is lost.
    pub fn reconnect_in(&self, now: Instant) -> Option<f32> {
        match &self.phase {
            Phase::Reconnecting { next_try } => Some(next_try.saturating_duration_since(now).as_secs_f32()),
            Phase::Opening { .. } if self.reconnecting => Some(0.0),
            _ => None,
        }
    }

    pub fn has_model(&self) -> bool {
        self.mer_model.is_some()
    }

    /// Changes the spotter's threshold, now and for every pipeline started later.
    pub fn set_spotter_threshold(&mut self, threshold: f32) {
        self.spotting.sensitivity = threshold;
        self.control(SpotterControl::SetSensitivity(threshold));
    }

    pub fn spotter_threshold(&self) -> f32 {
        self.spotting.sensitivity
    }

    /// Sends a control to the running pipeline's spotter; false when nothing runs.
    pub fn control(&self, control: SpotterControl) -> bool {
        match &self.phase {
            Phase::Running(pipeline) => {
                pipeline.control(control);
                true
            }
            _ => false,
        }
    }

    /// Counters of the running pipeline (or the last one).
    pub fn stats(&mut self) -> Option<&PipelineStats> {
        if let Phase::Running(pipeline) = &self.phase {
            self.last_stats = Some(pipeline.stats());
        }
        self.last_stats.as_ref()
    }

    /// Opens `spec` (stopping whatever runs now, in the background).
    pub fn open(&mut self, spec: SourceSpec) {
        self.abandon();
        self.spec = spec;
        self.notice = None;
        self.reconnecting = false;
        self.info = None;
        self.start();
    }

    /// The configuration the window's pipelines run with.
    pub fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            pacing: Pacing::RealTime,
            output: OutputPolicy::DropOldest,
            keep_images: true,
            spotting: self.spotting,
            mer_model: self.mer_model.clone(),
            ..PipelineConfig::default()
        }
    }

    /// Starts the current source again.
    pub fn start(&mut self) {
        if matches!(self.phase, Phase::Running(_) | Phase::Opening { .. }) {
            return;
        }
        self.abandon();
        let (tx, reply) = bounded(1);
        let spec = self.spec.clone();
        let synth = self.synth.clone();
        let config = self.pipeline_config();
        let opener = self.opener.clone();
        let spawned = std::thread::Builder::new().name("open-source".into()).spawn(move || {
            let _ = tx.send(open_pipeline(&opener, &spec, synth, config));
        });
        match spawned {
            Ok(_) => self.phase = Phase::Opening { started: Instant::now(), reply },
            Err(error) => {
                self.notice = Some(format!("cannot start a thread: {error}"));
                self.phase = Phase::Stopped;
            }
        }
    }

    /// Stops reading; the frames in flight are dropped and the threads joined in the background.
    pub fn stop(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Stopped) {
            Phase::Running(pipeline) => {
                pipeline.stop();
                self.phase = Phase::Closing { reply: finish_in_background(pipeline), user_stop: true };
            }
            Phase::Closing { reply, .. } => self.phase = Phase::Closing { reply, user_stop: true },
            Phase::Opening { reply, .. } => {
                // Whatever opens is stopped as soon as it arrives.
                std::thread::spawn(move || {
                    if let Ok(Ok(pipeline)) = reply.recv() {
                        pipeline.stop();
                        let _ = pipeline.finish();
                    }
                });
            }
            Phase::Reconnecting { .. } => self.reconnecting = false,
            Phase::Stopped => {}
        }
    }

    /// Drops the current pipeline without waiting for it (its threads end on their own).
    fn abandon(&mut self) {
        self.stop();
        self.phase = Phase::Stopped;
    }

    /// Results ready now, without waiting; at most `max` of them.
    pub fn drain(&mut self, max: usize) -> Vec<FrameAnalysis> {
        let mut out = Vec::new();
        let Phase::Running(pipeline) = &self.phase else { return out };
        while out.len() < max {
            match pipeline.results().try_recv() {
                Ok(analysis) => out.push(analysis),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The stream ended: finish it in the background.
                    if let Phase::Running(pipeline) = std::mem::replace(&mut self.phase, Phase::Stopped) {
                        self.last_stats = Some(pipeline.stats());
                        self.phase = Phase::Closing { reply: finish_in_background(pipeline), user_stop: false };
                    }
                    break;
                }
            }
        }
        out
    }

    /// Advances the phases that wait on other threads or on time.
    pub fn poll(&mut self, now: Instant) -> Vec<RunnerEvent> {
        let mut events = Vec::new();
        match std::mem::replace(&mut self.phase, Phase::Stopped) {
            Phase::Opening { started, reply } => match reply.try_recv() {
                Ok(Ok(pipeline)) => {
                    let info = pipeline.source().clone();
                    self.info = Some(info.clone());
                    self.notice = None;
                    self.reconnecting = false;
                    self.phase = Phase::Running(pipeline);
                    events.push(RunnerEvent::Started(info));
                }
                Ok(Err(failure)) => {
                    if self.reconnecting {
                        // Reconnecting to a camera that was working: keep trying.
                        self.notice = Some(failure.message);
                        self.phase = Phase::Reconnecting { next_try: now + secs(RECONNECT_SECONDS) };
                    } else {
                        self.notice = Some(failure.message.clone());
                        events.push(RunnerEvent::Ended { message: Some(failure.message), restarting: false });
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => self.phase = Phase::Opening { started, reply },
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.notice = Some("the source could not be opened".into());
                }
            },
            Phase::Closing { reply, user_stop } => match reply.try_recv() {
                Ok(ended) => {
                    let kind = self.info.as_ref().map(|i| i.kind);
                    let message = ended.error.clone().or(ended.capture_error.clone());
                    if user_stop {
                        self.notice = message.clone();
                        events.push(RunnerEvent::Ended { message, restarting: false });
                    } else if kind == Some(SourceKind::Camera) {
                        self.notice = Some(message.unwrap_or_else(|| "the camera stopped".into()));
                        self.reconnecting = true;
                        self.phase = Phase::Reconnecting { next_try: now + secs(RECONNECT_SECONDS) };
                        events.push(RunnerEvent::Ended { message: self.notice.clone(), restarting: true });
                    } else if kind == Some(SourceKind::Synthetic) && message.is_none() {
                        // The demo loops.
                        events.push(RunnerEvent::Ended { message: None, restarting: true });
                        self.start();
                    } else {
                        let message = message.or_else(|| Some("end of the video".into()));
                        self.notice = message.clone();
                        events.push(RunnerEvent::Ended { message, restarting: false });
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => self.phase = Phase::Closing { reply, user_stop },
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.notice = Some("the pipeline ended abnormally".into());
                }
            },
            Phase::Reconnecting { next_try } => {
                if now >= next_try {
                    self.start();
                } else {
                    self.phase = Phase::Reconnecting { next_try };
                }
            }
            other => self.phase = other,
        }
        events
    }

    /// Stops and waits for the threads (on exit).
    pub fn shutdown(&mut self, timeout: Duration) {
        self.stop();
        if let Phase::Closing { reply, .. } = std::mem::replace(&mut self.phase, Phase::Stopped) {
            let _ = reply.recv_timeout(timeout);
        }
    }
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

fn open_pipeline(opener: &Opener, spec: &SourceSpec, synth: SynthSpec, config: PipelineConfig) -> Result<Pipeline, OpenFailure> {
    let source = opener(spec, synth).map_err(|error| OpenFailure { message: error.to_string() })?;
    Pipeline::start(source, config).map_err(|error| OpenFailure { message: error.to_string() })
}

fn finish_in_background(pipeline: Pipeline) -> Receiver<Ended> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new().name("finish-pipeline".into()).spawn(move || {
        let ended = match pipeline.finish() {
            Ok(report) => Ended { capture_error: report.capture_error.map(|e| e.to_string()), error: None },
            Err(error) => Ended { capture_error: None, error: Some(error.to_string()) },
        };
        let _ = tx.send(ended);
    });
    if spawned.is_err() {
        // No thread to finish it on: report it ended; its threads stop on their own.
        let (tx, rx) = bounded(1);
        let _ = tx.send(Ended { capture_error: None, error: Some("cannot join the pipeline".into()) });
        return rx;
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CameraSpec, UnpluggedCamera};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_lost_camera_is_reopened() {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let opener: Opener = Arc::new(move |_spec: &SourceSpec, synth: SynthSpec| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(UnpluggedCamera::new(synth, 10)?) as Box<dyn Source>)
        });
        let synth = SynthSpec { seconds: 2.0, micro_events: 0, macro_events: 0, ..SynthSpec::default() };
        let mut runner =
            Runner::new(SourceSpec::Camera(CameraSpec::default()), synth, SpotterConfig::default(), None).with_opener(opener);
        runner.start();
        wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Started(_)));
        let events = wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Ended { .. }));
        match events.last() {
            Some(RunnerEvent::Ended { message: Some(message), restarting: true }) => {
                assert!(message.contains("stopped delivering frames"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let retry = runner.reconnect_in(Instant::now()).expect("reconnecting");
        assert!(retry > 0.5 && retry <= RECONNECT_SECONDS as f32, "{retry}");
        assert!(!runner.is_stopped() && !runner.is_running());
        // About two seconds later it opens the camera again by itself.
        wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Started(_)));
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // Stopping ends the reconnection loop.
        runner.stop();
        wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Ended { restarting: false, .. }));
        assert!(runner.is_stopped());
        assert_eq!(runner.reconnect_in(Instant::now()), None);
    }

    fn wait_for(runner: &mut Runner, seconds: f64, mut stop: impl FnMut(&RunnerEvent) -> bool) -> Vec<RunnerEvent> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed().as_secs_f64() < seconds {
            runner.drain(1000);
            for event in runner.poll(Instant::now()) {
                let done = stop(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out; saw {seen:?}");
    }

    #[test]
    fn the_demo_loops_and_stop_is_not_blocking() {
        let synth = SynthSpec { seconds: 0.5, micro_events: 0, macro_events: 0, ..SynthSpec::default() };
        let mut runner = Runner::new(SourceSpec::Synthetic, synth, SpotterConfig::default(), None);
        runner.start();
        assert!(runner.is_opening());
        wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Started(_)));
        assert!(runner.is_running());
        let events = wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Started(_)));
        assert!(events.iter().any(|e| matches!(e, RunnerEvent::Ended { message: None, restarting: true })), "{events:?}");
        let before = Instant::now();
        runner.stop();
        assert!(before.elapsed() < Duration::from_millis(50), "stop returns at once");
        let events = wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Ended { .. }));
        assert!(matches!(events.last(), Some(RunnerEvent::Ended { restarting: false, .. })), "{events:?}");
        assert!(runner.is_stopped());
    }

    #[test]
    fn a_missing_file_is_a_notice_not_a_crash() {
        let mut runner = Runner::new(SourceSpec::Synthetic, SynthSpec::default(), SpotterConfig::default(), None);
        runner.open(SourceSpec::File("/no/such/clip.mp4".into()));
        let events = wait_for(&mut runner, 30.0, |e| matches!(e, RunnerEvent::Ended { .. }));
        match events.last() {
            Some(RunnerEvent::Ended { message: Some(message), restarting: false }) => {
                assert!(message.contains("/no/such/clip.mp4"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(runner.is_stopped() && runner.notice.is_some());
        assert_eq!(runner.reconnect_in(Instant::now()), None);
    }
}
