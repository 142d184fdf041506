//! Recording a session: everything the analysis produces, written to the session folder by a
//! thread of its own as it happens.
//!
//! The caller (the `analyse` loop, the window) hands each analysed frame to [`Recorder::record`],
//! which formats its `frames.csv` row and queues it with the frame's picture; the recorder
//! thread appends the row and encodes the picture into `video.mp4`, so video frame i is always
//! CSV row i. Events go to `events.csv`, `session.eaf` and `events/<id>/` the same way. The
//! queue is bounded: a live session drops (and counts) frames rather than let a slow disk hold
//! up the analysis; an analysis of a file waits instead, losing nothing.
//!
//! Nothing written is lost: rows are appended whole, the EAF and JSON documents are replaced
//! atomically, and the video is a fragmented MP4 playable up to its last fragment after a kill.
//! An error (disk full, encoder gone) stops the recording cleanly and is reported; what was
//! written before it stays.

mod mp4;
mod video;

pub use mp4::{AccessUnit, AnnexBSplitter, FragmentedMp4, TIMESCALE};
pub use video::VideoWriter;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select, unbounded};
use opencv::core::Mat;
use opencv::prelude::*;

use crate::pipeline::FrameAnalysis;
use crate::recognition::AnalysedEvent;
use crate::session::{
    EVENTS_CSV, EVENTS_DIR, EafWriter, EventsCsvWriter, FRAMES_CSV, FramesCsvWriter, RecordingInfo, SESSION_EAF, SESSION_JSON,
    SessionError, SessionInfo, Timeline, frame_row, save_event_images,
};

/// The session's video file.
pub const VIDEO_FILE: &str = "video.mp4";

/// Frames the recorder may fall behind by (about 2 s of camera video, 60 MB at 640x480).
pub const DEFAULT_QUEUE_FRAMES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot create session folder '{path}': {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("cannot create '{path}': {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("video '{path}': {reason}")]
    Video { path: PathBuf, reason: String },
    #[error("frame {frame} has no picture to record (the pipeline must keep images when video is recorded)")]
    NoPicture { frame: u64 },
    #[error("the recorder thread failed: {0}")]
    Thread(String),
    #[error("recording stopped: {0}")]
    Stopped(String),
}

/// What the recorder does when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room (analysing a file: the source waits too, nothing is lost).
    Wait,
    /// Drop the frame, row and picture together, and count it (a camera does not wait).
    Drop,
}

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub dir: PathBuf,
    /// Record `video.mp4` (frames must carry their pictures).
    pub video: bool,
    /// Save each event's pictures under `events/<id>/`.
    pub event_images: bool,
    pub when_full: WhenFull,
    pub queue_frames: usize,
    /// The video's frame rate as the source states it (only the encoder's rate control uses it;
    /// every frame keeps its real timestamp).
    pub nominal_fps: f64,
    /// The media `session.eaf` links when no video is recorded (the analysed file).
    pub media: Option<PathBuf>,
    /// Number frames and times from the first recorded frame (a recording), or keep the
    /// stream's (an analysis of a whole file, whose own media the EAF links).
    pub restart_timeline: bool,
}

impl RecorderConfig {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            video: false,
            event_images: true,
            when_full: WhenFull::Wait,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            nominal_fps: 30.0,
            media: None,
            restart_timeline: false,
        }
    }
}

/// How the recording is going, for a status line.
#[derive(Debug, Clone, Default)]
pub struct RecorderStatus {
    pub frames_written: u64,
    pub video_frames: u64,
    pub video_bytes: u64,
    pub frames_dropped: u64,
    pub events_written: u64,
    /// Events that began before the recording (not written).
    pub events_before: u64,
    /// The error that stopped the recording.
    pub error: Option<String>,
}

/// One queued frame: its CSV row and picture, numbered on the session's time line.
struct QueuedFrame {
    timeline: Timeline,
    number: u64,
    seconds: f64,
    row: Vec<u8>,
    image: Option<Mat>,
}

pub struct Recorder {
    dir: PathBuf,
    video: bool,
    when_full: WhenFull,
    restart_timeline: bool,
    timeline: Option<Timeline>,
    /// The last frame handed in: `(session frame number, session seconds, capture ns)`.
    last: Option<(u64, f64, u64)>,
    /// Set by [`Recorder::source_restarted`]: the next frame goes on from `last`.
    resume: bool,
    frames: Option<Sender<QueuedFrame>>,
    events: Option<Sender<Arc<AnalysedEvent>>>,
    status: Arc<Mutex<RecorderStatus>>,
    thread: Option<JoinHandle<RecordingInfo>>,
}

impl Recorder {
    /// Creates the session folder (private to the user when new) and its files, writes
    /// `session.json`, and starts the recorder thread.
    pub fn start(config: RecorderConfig, mut session: SessionInfo) -> Result<Self, RecordingError> {
        let dir = &config.dir;
        crate::session::create_private_dir(dir).map_err(|source| RecordingError::Folder { path: dir.clone(), source })?;
        let frames_path = dir.join(FRAMES_CSV);
        let frames = FramesCsvWriter::create(&frames_path)?;
        let events = EventsCsvWriter::create(&dir.join(EVENTS_CSV))?;
        let video_path = dir.join(VIDEO_FILE);
        let media = if config.video { Some(video_path.as_path()) } else { config.media.as_deref() };
        let eaf = EafWriter::create(&dir.join(SESSION_EAF), media, Some(&frames_path))?;
        session.recording = Some(RecordingInfo {
            video: config.video.then(|| VIDEO_FILE.to_string()),
            state: "recording".into(),
            ..RecordingInfo::default()
        });
        session.write(&dir.join(SESSION_JSON))?;

        let (frame_tx, frame_rx) = bounded(config.queue_frames.max(1));
        let (event_tx, event_rx) = unbounded();
        let status = Arc::new(Mutex::new(RecorderStatus::default()));
        let writer = SessionWriter {
            dir: dir.clone(),
            frames,
            events,
            eaf,
            event_images: config.event_images.then(|| dir.join(EVENTS_DIR)),
            video: None,
            video_wanted: config.video,
            nominal_fps: config.nominal_fps,
            session,
            status: status.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("glimpse-recorder".into())
            .spawn(move || writer.run(frame_rx, event_rx))
            .map_err(|e| RecordingError::Thread(e.to_string()))?;
        Ok(Self {
            dir: dir.clone(),
            video: config.video,
            when_full: config.when_full,
            restart_timeline: config.restart_timeline,
            timeline: None,
            last: None,
            resume: false,
            frames: Some(frame_tx),
            events: Some(event_tx),
            status,
            thread: Some(thread),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn status(&self) -> RecorderStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The error that stopped the recording, if it has stopped.
    pub fn error(&self) -> Option<String> {
        stopped_by(&self.status)
    }

    /// Queues a frame (its row, its picture when video is recorded, and the events it carries).
    /// Returns whether the frame was queued; an error once the recording has failed.
    pub fn record(&mut self, analysis: &FrameAnalysis) -> Result<bool, RecordingError> {
        if let Some(reason) = self.error() {
            return Err(RecordingError::Stopped(reason));
        }
        let timeline = match self.timeline {
            Some(timeline) => timeline,
            None => {
                let timeline = match (self.resume, self.last) {
                    (true, Some((number, seconds, capture_ns))) => {
                        // The gap is real time: the capture clock runs across streams.
                        let gap = analysis.time.capture_ns.saturating_sub(capture_ns) as f64 / 1e9;
                        Timeline::continuing(analysis.index, analysis.time.seconds, number + 1, seconds + gap.max(1e-3))
                    }
                    _ if self.restart_timeline => Timeline::starting_at(analysis.index, analysis.time.seconds),
                    _ => Timeline::STREAM,
                };
                self.resume = false;
                *self.timeline.insert(timeline)
            }
        };
        self.record_events(&analysis.events);
        let image = match (&analysis.image, self.video) {
            (_, false) => None,
            (Some(image), true) => Some(image.try_clone().map_err(|e| RecordingError::Video {
                path: self.dir.join(VIDEO_FILE),
                reason: format!("cannot copy frame {}: {e}", analysis.index + 1),
            })?),
            (None, true) => {
                return Err(RecordingError::NoPicture { frame: analysis.index + 1 });
            }
        };
        let row =
            frame_row(analysis, &timeline).map_err(|source| SessionError::Format { path: self.dir.join(FRAMES_CSV), source })?;
        let (number, seconds) = (timeline.frame_number(analysis.index), timeline.seconds(analysis.time.seconds));
        self.last = Some((number, seconds, analysis.time.capture_ns));
        let frame = QueuedFrame { timeline, number, seconds, row, image };
        let Some(frames) = &self.frames else {
            return Ok(false);
        };
        let queued = match self.when_full {
            WhenFull::Wait => frames.send(frame).is_ok(),
            WhenFull::Drop => match frames.try_send(frame) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    if let Ok(mut s) = self.status.lock() {
                        s.frames_dropped += 1;
                    }
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        };
        Ok(queued)
    }

    /// The source started a new stream (a camera reopened, a file or the demo started again):
    /// the recording goes on, its next frame numbered and timed after the last one.
    pub fn source_restarted(&mut self) {
        if self.timeline.is_some() {
            self.timeline = None;
            self.resume = true;
        }
    }

    /// Queues events that arrived without a frame (the pipeline's late events at its end).
    pub fn record_events(&mut self, events: &[Arc<AnalysedEvent>]) {
        let Some(timeline) = self.timeline else {
            return;
        };
        let Some(sender) = &self.events else { return };
        for analysed in events {
            match timeline.event(analysed) {
                Some(event) => {
                    let _ = sender.send(Arc::new(event));
                }
                None => {
                    if let Ok(mut s) = self.status.lock() {
                        s.events_before = s.events_before.saturating_add(1);
                    }
                }
            }
        }
    }

    /// Writes out everything queued, closes the video and updates `session.json`. Returns the
    /// account of the recording, or the error that stopped it (what was written before it stays).
    pub fn finish(mut self) -> Result<RecordingInfo, RecordingError> {
        self.close()
    }

    fn close(&mut self) -> Result<RecordingInfo, RecordingError> {
        drop(self.frames.take());
        drop(self.events.take());
        let Some(thread) = self.thread.take() else {
            return Err(RecordingError::Thread("already finished".into()));
        };
        let info = thread.join().map_err(|_| RecordingError::Thread("the recorder thread panicked".into()))?;
        match self.error() {
            Some(reason) => Err(RecordingError::Stopped(reason)),
            None => Ok(info),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.close();
        }
    }
}

/// The error that stopped the recording, if one has (shared by the handle and the thread).
fn stopped_by(status: &Mutex<RecorderStatus>) -> Option<String> {
    status.lock().ok().and_then(|s| s.error.clone())
}

/// The recorder thread's side: the open files.
struct SessionWriter {
    dir: PathBuf,
    frames: FramesCsvWriter,
    events: EventsCsvWriter,
    eaf: EafWriter,
    event_images: Option<PathBuf>,
    video: Option<VideoWriter>,
    video_wanted: bool,
    nominal_fps: f64,
    session: SessionInfo,
    status: Arc<Mutex<RecorderStatus>>,
}

impl SessionWriter {
    fn run(mut self, frames: Receiver<QueuedFrame>, events: Receiver<Arc<AnalysedEvent>>) -> RecordingInfo {
        let (mut frames_open, mut events_open) = (true, true);
        // After a failure the queues are still drained (the caller must never block on them),
        // but nothing more is written.
        while frames_open || events_open {
            select! {
                recv(frames) -> frame => match frame {
                    Ok(frame) if self.failure().is_none() => {
                        let written = self.write_frame(frame);
                        self.fail_on(written);
                    }
                    Ok(_) => {}
                    Err(_) => frames_open = false,
                },
                recv(events) -> event => match event {
                    Ok(event) if self.failure().is_none() => {
                        let written = self.write_event(&event);
                        self.fail_on(written);
                    }
                    Ok(_) => {}
                    Err(_) => events_open = false,
                },
            }
        }
        // The video ends with the frames it has, even after a failure elsewhere.
        let video_frames = match self.video.take().map(VideoWriter::finish) {
            Some(Ok(frames)) => frames,
            Some(Err(error)) => {
                self.fail_on::<()>(Err(error));
                0
            }
            None => 0,
        };
        let status = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        let mut info = self.session.recording.clone().unwrap_or_default();
        info.frames_written = status.frames_written;
        info.video_frames = video_frames;
        info.events_written = status.events_written;
        info.frames_dropped = status.frames_dropped;
        info.events_before_start = status.events_before;
        info.ended_utc = Some(crate::session::utc_timestamp());
        info.state = status.error.unwrap_or_else(|| "completed".into());
        self.session.recording = Some(info.clone());
        let saved = self.session.write(&self.dir.join(SESSION_JSON)).map_err(RecordingError::from);
        self.fail_on(saved);
        info
    }

    fn failure(&self) -> Option<String> {
        stopped_by(&self.status)
    }

    /// Keeps the first error as the one that stopped the recording.
    fn fail_on<T>(&self, result: Result<T, RecordingError>) {
        let Err(error) = result else { return };
        if let Ok(mut s) = self.status.lock()
            && s.error.is_none()
        {
            tracing::error!("recording stopped: {error}");
            s.error = Some(error.to_string());
        }
    }

    fn write_frame(&mut self, frame: QueuedFrame) -> Result<(), RecordingError> {
        if let Some(info) = self.session.recording.as_mut().filter(|_| self.frames.last_frame() == 0) {
            info.first_stream_frame = (frame.timeline.first_index + 1).max(0) as u64;
            info.origin_stream_seconds = frame.timeline.origin_seconds;
        }
        if let Some(image) = &frame.image {
            if self.video.is_none() && self.video_wanted {
                self.video = Some(VideoWriter::create(&self.dir.join(VIDEO_FILE), image.cols(), image.rows(), self.nominal_fps)?);
            }
        }
        self.frames.write_row(&frame.row, frame.number)?;
        if let (Some(video), Some(image)) = (&mut self.video, &frame.image) {
            video.push(image, frame.seconds)?;
        }
        if let Ok(mut s) = self.status.lock() {
            s.frames_written += 1;
            if let Some(video) = &self.video {
                s.video_frames = video.frames_written();
                s.video_bytes = video.bytes_written();
            }
        }
        Ok(())
    }

    fn write_event(&mut self, analysed: &AnalysedEvent) -> Result<(), RecordingError> {
        self.events.write(analysed)?;
        self.eaf.add(analysed)?;
        if let Some(dir) = &self.event_images {
            save_event_images(dir, analysed)?;
        }
        if let Ok(mut s) = self.status.lock() {
            s.events_written += 1;
        }
        Ok(())
    }
}
