//! Frame sources (camera, video file, synthetic face) and the capture thread that stamps their
//! frames and feeds them into the [`FrameRing`](crate::buffer::FrameRing).
//!
//! Every source yields [`Frame`]s behind the one [`Source`] trait. Timestamps are real: media
//! time from the container for files, the generator's media time for the synthetic face, and the
//! monotonic capture clock for cameras (never index / fps).

mod camera;
mod file;
mod looped;
mod synthetic;
mod thread;

pub use camera::{CameraListing, CameraSource, CameraSpec, list_cameras};
pub use file::VideoFileSource;
pub use looped::{LoopedSource, Reopen};
pub use synthetic::{SyntheticSource, UnpluggedCamera};
pub use thread::{CaptureHandle, CaptureOptions, CaptureOutcome, Overflow, Pacing, spawn_capture};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use opencv::core::Mat;
use opencv::prelude::*;

/// One decoded frame, as it leaves the source.
pub struct Frame {
    /// 0-based position in the stream (OpenFace's `frame` column is `index + 1`).
    pub index: u64,
    pub time: FrameTime,
    /// BGR, 8 bits per channel.
    pub image: Mat,
}

impl Frame {
    pub fn width(&self) -> i32 {
        self.image.cols()
    }

    pub fn height(&self) -> i32 {
        self.image.rows()
    }
}

/// Where a frame's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBase {
    /// Presentation time stored in the file (or the generator's own clock for synthetic video).
    Media,
    /// Monotonic clock read when the frame arrived from the camera.
    Capture,
}

/// The timestamps a frame carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTime {
    /// Seconds from the start of the stream on the clock named by `base`.
    pub seconds: f64,
    pub base: TimeBase,
    /// `CLOCK_MONOTONIC` in nanoseconds when the capture thread received the frame; the start of
    /// the capture-to-result latency.
    pub capture_ns: u64,
}

/// `CLOCK_MONOTONIC` now, in nanoseconds. The same clock as `Instant`, but as a number that can
/// be written to a file and compared across processes.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What a source is, for summaries and session metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// Human-readable name: the file path, the camera's name, `synthetic (seed 1)`.
    pub name: String,
    pub width: i32,
    pub height: i32,
    /// Frame rate the source announces (container metadata, negotiated camera format).
    pub nominal_fps: f64,
    /// Total frames, when known in advance (files, synthetic).
    pub frame_count: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Camera,
    File,
    Synthetic,
}

/// A stream of frames. `next_frame` returns `Ok(None)` at the end of a finite stream.
pub trait Source: Send {
    fn info(&self) -> &SourceInfo;
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError>;
    /// Live sources produce frames on their own clock: the capture thread must never make them
    /// wait, so it drops the oldest buffered frame instead.
    fn is_live(&self) -> bool;
}

/// Which source to open, as written on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// `camera` (the first one) or `camera:N`.
    Camera(CameraSpec),
    /// `synthetic`: the built-in synthetic face.
    Synthetic,
    /// Anything else is a path to a video file.
    File(PathBuf),
}

impl FromStr for SourceSpec {
    type Err = CaptureError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CaptureError::BadSourceSpec { spec: text.to_owned(), reason: "empty source".into() });
        }
        if text == "synthetic" {
            return Ok(SourceSpec::Synthetic);
        }
        if text == "camera" {
            return Ok(SourceSpec::Camera(CameraSpec::default()));
        }
        if let Some(index) = text.strip_prefix("camera:") {
            let index = index.parse::<u32>().map_err(|_| CaptureError::BadSourceSpec {
                spec: text.to_owned(),
                reason: "expected camera:N with N a camera index (see `glimpse cameras`)".into(),
            })?;
            return Ok(SourceSpec::Camera(CameraSpec { index, ..CameraSpec::default() }));
        }
        Ok(SourceSpec::File(PathBuf::from(text)))
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Camera(camera) => write!(f, "camera:{}", camera.index),
            SourceSpec::Synthetic => f.write_str("synthetic"),
            SourceSpec::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Seconds between attempts to reopen a lost camera (the window and headless `analyse`).
pub const RECONNECT_SECONDS: f64 = 2.0;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("bad source '{spec}': {reason}")]
    BadSourceSpec { spec: String, reason: String },
    #[error("cannot open video '{path}': {reason}")]
    VideoOpen { path: PathBuf, reason: String },
    #[error("error reading frame {frame} of video '{path}': {reason}")]
    VideoRead { path: PathBuf, frame: u64, reason: String },
    #[error("no camera found{detail}; use `synthetic` or a video file as the source instead")]
    NoCamera { detail: String },
    #[error("cannot open camera {index}: {reason}")]
    CameraOpen { index: u32, reason: String },
    #[error("camera {index} stopped delivering frames after {frames} frames: {reason}")]
    CameraLost { index: u32, frames: u64, reason: String },
    #[error("synthetic source: {0}")]
    Synthetic(#[from] crate::synth::SynthError),
    #[error("OpenCV error while capturing from {source_name}: {error}")]
    OpenCv { source_name: String, error: opencv::Error },
}

/// Opens the source named by `spec`. `synthetic` uses `synth` for its parameters.
pub fn open_source(spec: &SourceSpec, synth: crate::synth::SynthSpec) -> Result<Box<dyn Source>, CaptureError> {
    Ok(match spec {
        SourceSpec::Camera(camera) => Box::new(CameraSource::open(camera.clone())?),
        SourceSpec::Synthetic => Box::new(SyntheticSource::new(synth)?),
        SourceSpec::File(path) => Box::new(VideoFileSource::open(path)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_specs_parse() {
        assert_eq!("synthetic".parse::<SourceSpec>().unwrap(), SourceSpec::Synthetic);
        assert_eq!(
            "camera:2".parse::<SourceSpec>().unwrap(),
            SourceSpec::Camera(CameraSpec { index: 2, ..CameraSpec::default() })
        );
        assert_eq!("clip.mp4".parse::<SourceSpec>().unwrap(), SourceSpec::File(PathBuf::from("clip.mp4")));
        let err = "camera:x".parse::<SourceSpec>().unwrap_err().to_string();
        assert!(err.contains("camera:x") && err.contains("camera index"), "{err}");
        assert!("".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_ns();
        assert!(b >= a + 1_000_000, "{a} -> {b}");
    }
}
