//! The capture thread: reads a [`Source`], paces it if asked, pushes into the ring. It only reads
//! and stamps frames; it never waits for the analysis when the source is live.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::buffer::FrameRing;
use crate::pipeline::StageTimer;

use super::{CaptureError, Frame, Source, SourceInfo};

/// How fast a non-live source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// As fast as the analysis takes frames (offline analysis of a file).
    AsFastAsPossible,
    /// At the media timestamps' rate, as a camera would deliver them.
    RealTime,
}

/// What happens when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Evict the oldest frame and count it (cameras, paced files: the live behaviour).
    DropOldest,
    /// Wait for room (offline files read as fast as possible: every frame gets analysed).
    Wait,
}

#[derive(Debug, Clone, Copy)]
pub struct CaptureOptions {
    pub pacing: Pacing,
    pub overflow: Overflow,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// Stop after this many seconds of stream time.
    pub max_seconds: Option<f64>,
}

impl CaptureOptions {
    /// The behaviour a source calls for: live sources drop-oldest; offline sources are read
    /// losslessly unless paced like a camera.
    pub fn for_source(source: &dyn Source, pacing: Pacing) -> Self {
        let overflow = if source.is_live() || pacing == Pacing::RealTime { Overflow::DropOldest } else { Overflow::Wait };
        Self { pacing, overflow, max_frames: None, max_seconds: None }
    }
}

/// Why and how the capture thread ended.
#[derive(Debug)]
pub struct CaptureOutcome {
    pub frames_read: u64,
    /// Set when the source failed (unreadable frame, camera unplugged); frames before it were
    /// delivered.
    pub error: Option<CaptureError>,
    /// True when the stream ran to its end (or to `max_frames` / `max_seconds`).
    pub completed: bool,
}

pub struct CaptureHandle {
    info: SourceInfo,
    stop: Arc<AtomicBool>,
    frames_read: Arc<AtomicU64>,
    thread: Option<JoinHandle<CaptureOutcome>>,
}

impl CaptureHandle {
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Frames read from the source so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read.load(Ordering::Relaxed)
    }

    /// Asks the thread to stop after the frame it is reading.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub fn join(mut self) -> CaptureOutcome {
        let Some(thread) = self.thread.take() else {
            return CaptureOutcome { frames_read: self.frames_read(), error: None, completed: false };
        };
        thread.join().unwrap_or_else(|_| CaptureOutcome { frames_read: self.frames_read(), error: None, completed: false })
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.request_stop();
    }
}

/// Starts the capture thread. The ring is closed when the thread ends, for whatever reason.
/// `read_timer` records how long each read (decode) takes.
pub fn spawn_capture(
    mut source: Box<dyn Source>,
    ring: Arc<FrameRing<Frame>>,
    options: CaptureOptions,
    read_timer: Arc<StageTimer>,
) -> CaptureHandle {
    let info = source.info().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let frames_read = Arc::new(AtomicU64::new(0));
    let thread = {
        let stop = stop.clone();
        let frames_read = frames_read.clone();
        std::thread::Builder::new().name("capture".into()).spawn(move || {
            let outcome = capture_loop(source.as_mut(), &ring, options, &stop, &frames_read, &read_timer);
            ring.close();
            outcome
        })
    };
    let thread = match thread {
        Ok(thread) => Some(thread),
        Err(error) => {
            tracing::error!("cannot start the capture thread: {error}");
            None
        }
    };
    CaptureHandle { info, stop, frames_read, thread }
}

fn capture_loop(
    source: &mut dyn Source,
    ring: &FrameRing<Frame>,
    options: CaptureOptions,
    stop: &AtomicBool,
    frames_read: &AtomicU64,
    read_timer: &StageTimer,
) -> CaptureOutcome {
    let mut clock: Option<(Instant, f64)> = None;
    let mut read = 0u64;
    loop {
        if stop.load(Ordering::Acquire) {
            return CaptureOutcome { frames_read: read, error: None, completed: false };
        }
        if options.max_frames.is_some_and(|max| read >= max) {
            return CaptureOutcome { frames_read: read, error: None, completed: true };
        }
        let read_started = Instant::now();
        let next = source.next_frame();
        read_timer.record(read_started.elapsed());
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => return CaptureOutcome { frames_read: read, error: None, completed: true },
            Err(error) => return CaptureOutcome { frames_read: read, error: Some(error), completed: false },
        };
        if options.max_seconds.is_some_and(|max| frame.time.seconds > max) {
            return CaptureOutcome { frames_read: read, error: None, completed: true };
        }
        if options.pacing == Pacing::RealTime && !source.is_live() {
            let (start, first_seconds) = *clock.get_or_insert((Instant::now(), frame.time.seconds));
            let due = start + Duration::from_secs_f64((frame.time.seconds - first_seconds).max(0.0));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let mut frame = frame;
        // The latency clock starts when the frame is handed over, after any pacing wait.
        if !source.is_live() {
            frame.time.capture_ns = super::monotonic_ns();
        }
        read += 1;
        frames_read.store(read, Ordering::Relaxed);
        match options.overflow {
            Overflow::DropOldest => drop(ring.push_overwrite(frame)),
            Overflow::Wait => {
                if ring.push_wait(frame).is_err() {
                    return CaptureOutcome { frames_read: read, error: None, completed: false };
                }
            }
        }
    }
}
