//! Video files through OpenCV's `VideoCapture` (FFmpeg backend), timestamped by the container.

use std::path::{Path, PathBuf};

use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::{CaptureError, Frame, FrameTime, Source, SourceInfo, SourceKind, TimeBase, monotonic_ns};

pub struct VideoFileSource {
    path: PathBuf,
    capture: VideoCapture,
    info: SourceInfo,
    next_index: u64,
    last_seconds: f64,
}

impl VideoFileSource {
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let open_error = |reason: String| CaptureError::VideoOpen { path: path.to_owned(), reason };
        match std::fs::metadata(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(open_error("the file does not exist".into()));
            }
            Err(error) => return Err(open_error(format!("cannot read it: {error}"))),
            Ok(meta) if meta.is_dir() => return Err(open_error("it is a directory".into())),
            Ok(meta) if meta.len() == 0 => return Err(open_error("the file is empty".into())),
            Ok(_) => {}
        }
        std::fs::File::open(path).map_err(|error| open_error(format!("cannot read it: {error}")))?;

        let path_text = path.to_str().ok_or_else(|| open_error("the path is not valid UTF-8".into()))?;
        let capture = VideoCapture::from_file(path_text, videoio::CAP_FFMPEG)
            .map_err(|error| open_error(format!("OpenCV could not open it: {error}")))?;
        let opened = capture.is_opened().map_err(|error| open_error(error.to_string()))?;
        if !opened {
            return Err(open_error("not a video that OpenCV/FFmpeg can decode (unknown or corrupt container)".into()));
        }
        let property = |id| capture.get(id).unwrap_or(0.0);
        let width = property(videoio::CAP_PROP_FRAME_WIDTH) as i32;
        let height = property(videoio::CAP_PROP_FRAME_HEIGHT) as i32;
        if width <= 0 || height <= 0 {
            return Err(open_error("the video stream has no frame size (no video track?)".into()));
        }
        let frames = property(videoio::CAP_PROP_FRAME_COUNT);
        let info = SourceInfo {
            kind: SourceKind::File,
            name: path.display().to_string(),
            width,
            height,
            nominal_fps: property(videoio::CAP_PROP_FPS),
            frame_count: (frames > 0.0).then_some(frames as u64),
        };
        Ok(Self { path: path.to_owned(), capture, info, next_index: 0, last_seconds: f64::NEG_INFINITY })
    }
}

/// Frames a container's announced count may exceed the decodable ones by without the file being
/// damaged: where the container stores no count, FFmpeg estimates it from the duration.
const ANNOUNCED_COUNT_SLACK: u64 = 1;

impl VideoFileSource {
    /// Why the stream stopped decoding before its end, if it did: a frame that follows the one
    /// that failed still decodes (damage mid-file), or fewer frames decoded than the container
    /// announces (a truncated file). `None` at a proper end.
    fn ended_early(&mut self) -> Option<String> {
        let decoded = self.next_index;
        let mut probe = Mat::default();
        if self.capture.read(&mut probe).unwrap_or(false) && !probe.empty() {
            return Some(format!(
                "the data after frame {decoded} is damaged (a later frame still decodes): the file is corrupt; the frames before it were analysed"
            ));
        }
        let announced = self.info.frame_count?;
        (decoded + ANNOUNCED_COUNT_SLACK < announced).then(|| {
            format!(
                "the video stops decoding after {decoded} of the {announced} frames it announces: the file is truncated or corrupt; the frames before it were analysed"
            )
        })
    }
}

impl Source for VideoFileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        false
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let read_error =
            |frame, error: opencv::Error| CaptureError::VideoRead { path: self.path.clone(), frame, reason: error.to_string() };
        let mut image = Mat::default();
        let got = self.capture.read(&mut image).map_err(|e| read_error(self.next_index + 1, e))?;
        if !got || image.empty() {
            return match self.ended_early() {
                Some(reason) => Err(CaptureError::VideoRead { path: self.path.clone(), frame: self.next_index + 1, reason }),
                None => Ok(None),
            };
        }
        let capture_ns = monotonic_ns();
        // POS_MSEC after a read is the presentation time of the frame just decoded.
        let millis = self.capture.get(videoio::CAP_PROP_POS_MSEC).map_err(|e| read_error(self.next_index + 1, e))?;
        let mut seconds = millis / 1000.0;
        if !seconds.is_finite() || seconds <= self.last_seconds {
            // Containers without usable timestamps: keep time monotonic from the nominal rate.
            let fps = if self.info.nominal_fps > 0.0 { self.info.nominal_fps } else { 30.0 };
            seconds = if self.last_seconds.is_finite() { self.last_seconds + 1.0 / fps } else { 0.0 };
        }
        self.last_seconds = seconds;
        let frame = Frame { index: self.next_index, time: FrameTime { seconds, base: TimeBase::Media, capture_ns }, image };
        self.next_index += 1;
        Ok(Some(frame))
    }
}
