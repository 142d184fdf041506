//! The session's video for review: any frame by its `frames.csv` row, on a thread of its own.
//!
//! Video frame i is row i of `frames.csv`, and its presentation time is that row's timestamp.
//! The frame rate may vary (cameras), so frames are never located by `row / fps`: a seek goes to
//! a time a little before the frame wanted, the frame it lands on is identified by its
//! presentation time against the rows' timestamps, and decoding goes forward from there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::ReviewError;

/// Frames read forward rather than seeking, when the one wanted is this close ahead.
const READ_AHEAD_LIMIT: usize = 90;
/// How far before the wanted frame a seek aims first (seconds); doubled while it lands after it.
const FIRST_PREROLL_SECONDS: f64 = 0.5;

/// Random access to the frames of a video by `frames.csv` row.
pub struct ReviewVideo {
    path: PathBuf,
    capture: VideoCapture,
    /// Each row's presentation time (seconds).
    timestamps: Arc<[f64]>,
    /// The row the next `grab` returns, when known.
    next_row: Option<usize>,
    width: i32,
    height: i32,
}

impl ReviewVideo {
    pub fn open(path: &Path, timestamps: Arc<[f64]>) -> Result<Self, ReviewError> {
        let error = |reason: String| ReviewError::Video { path: path.to_owned(), reason };
        if timestamps.is_empty() {
            return Err(error("frames.csv has no rows to match the video's frames with".into()));
        }
        let text = path.to_str().ok_or_else(|| error("the path is not UTF-8".into()))?;
        let capture = VideoCapture::from_file(text, videoio::CAP_FFMPEG).map_err(|e| error(e.to_string()))?;
        if !capture.is_opened().map_err(|e| error(e.to_string()))? {
            return Err(error("not a video OpenCV/FFmpeg can decode".into()));
        }
        let width = capture.get(videoio::CAP_PROP_FRAME_WIDTH).unwrap_or(0.0) as i32;
        let height = capture.get(videoio::CAP_PROP_FRAME_HEIGHT).unwrap_or(0.0) as i32;
        if width <= 0 || height <= 0 {
            return Err(error("the video has no frame size (no video track?)".into()));
        }
        Ok(Self { path: path.to_owned(), capture, timestamps, next_row: Some(0), width, height })
    }

    pub fn size(&self) -> (i32, i32) {
        (self.width, self.height)
    }

    fn error(&self, reason: String) -> ReviewError {
        ReviewError::Video { path: self.path.clone(), reason }
    }

    /// The row of the frame just grabbed, from its presentation time.
    fn grabbed_row(&self) -> Result<usize, ReviewError> {
        let seconds = self.capture.get(videoio::CAP_PROP_POS_MSEC).map_err(|e| self.error(e.to_string()))? / 1000.0;
        let after = self.timestamps.partition_point(|t| *t < seconds);
        Ok(match (after.checked_sub(1), self.timestamps.get(after)) {
            (Some(before), Some(next)) if seconds - self.timestamps[before] <= next - seconds => before,
            (Some(before), None) => before,
            _ => after.min(self.timestamps.len() - 1),
        })
    }

    fn grab(&mut self, row: usize) -> Result<(), ReviewError> {
        match self.capture.grab() {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.error(format!("the video ends before frame {} (row {} of frames.csv)", row + 1, row + 1))),
            Err(e) => Err(self.error(e.to_string())),
        }
    }

    /// Positions the reader so that the next grab returns a row at or before `row`; returns
    /// that row, or `Some(row)`'s image already decoded when the seek landed on it.
    fn seek_to_or_before(&mut self, row: usize) -> Result<Option<Mat>, ReviewError> {
        let mut preroll = FIRST_PREROLL_SECONDS;
        loop {
            let target = self.timestamps[row] - self.timestamps[0] - preroll;
            if target <= 0.0 {
                // From the very start, which every container seeks to exactly.
                self.capture.set(videoio::CAP_PROP_POS_FRAMES, 0.0).map_err(|e| self.error(e.to_string()))?;
                self.next_row = Some(0);
                return Ok(None);
            }
            self.capture.set(videoio::CAP_PROP_POS_MSEC, target * 1000.0).map_err(|e| self.error(e.to_string()))?;
            self.next_row = None;
            if self.capture.grab().map_err(|e| self.error(e.to_string()))? {
                let landed = self.grabbed_row()?;
                if landed == row {
                    self.next_row = Some(row + 1);
                    return self.retrieve(row).map(Some);
                }
                if landed < row {
                    self.next_row = Some(landed + 1);
                    return Ok(None);
                }
            }
            preroll *= 2.0;
        }
    }

    fn retrieve(&mut self, row: usize) -> Result<Mat, ReviewError> {
        let mut image = Mat::default();
        let decoded = self.capture.retrieve(&mut image, 0).map_err(|e| self.error(e.to_string()))?;
        if !decoded || image.empty() {
            return Err(self.error(format!("cannot decode frame {}", row + 1)));
        }
        Ok(image)
    }

    /// The frame of `row` (0-based row of `frames.csv`), BGR.
    pub fn frame(&mut self, row: usize) -> Result<Mat, ReviewError> {
        let row = row.min(self.timestamps.len() - 1);
        let close_ahead = self.next_row.is_some_and(|next| next <= row && row - next <= READ_AHEAD_LIMIT);
        if !close_ahead && let Some(image) = self.seek_to_or_before(row)? {
            return Ok(image);
        }
        let mut next = self.next_row.unwrap_or(0);
        while next < row {
            self.grab(next)?;
            next += 1;
        }
        self.grab(row)?;
        self.next_row = Some(row + 1);
        self.retrieve(row)
    }
}

/// A decoded frame sent back by the [`VideoPlayer`].
pub struct DecodedFrame {
    pub row: usize,
    pub image: Result<Mat, ReviewError>,
}

/// [`ReviewVideo`] on its own thread: the window asks for rows and takes the frames that are
/// ready, never waiting for a decode. Only the newest request is served.
pub struct VideoPlayer {
    requests: Sender<usize>,
    frames: Receiver<DecodedFrame>,
    size: (i32, i32),
}

impl VideoPlayer {
    pub fn start(mut video: ReviewVideo) -> Self {
        let (requests, wanted) = unbounded::<usize>();
        let (done, frames) = bounded::<DecodedFrame>(1);
        let size = video.size();
        std::thread::Builder::new()
            .name("review-video".into())
            .spawn(move || {
                while let Ok(mut row) = wanted.recv() {
                    while let Ok(newer) = wanted.try_recv() {
                        row = newer;
                    }
                    let mut frame = DecodedFrame { row, image: video.frame(row) };
                    // Wait for room, unless a newer request makes this frame stale.
                    loop {
                        match done.try_send(frame) {
                            Ok(()) => break,
                            Err(TrySendError::Disconnected(_)) => return,
                            Err(TrySendError::Full(back)) => {
                                if !wanted.is_empty() {
                                    break;
                                }
                                frame = back;
                                std::thread::sleep(std::time::Duration::from_millis(2));
                            }
                        }
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|error| tracing::warn!("cannot start the video thread: {error}"));
        Self { requests, frames, size }
    }

    pub fn size(&self) -> (i32, i32) {
        self.size
    }

    /// Asks for the frame of `row`.
    pub fn request(&self, row: usize) {
        // The thread only goes when the player does.
        let _ = self.requests.send(row);
    }

    /// The frame decoded since the last call, if any.
    pub fn take(&self) -> Option<DecodedFrame> {
        self.frames.try_iter().last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Source, VideoFileSource};
    use crate::synth::{SynthSpec, write_video};

    fn checksum(image: &Mat) -> u64 {
        image
            .data_bytes()
            .unwrap()
            .iter()
            .enumerate()
            .fold(0u64, |sum, (i, &b)| sum.wrapping_mul(31).wrapping_add(b as u64 ^ i as u64))
    }

    #[test]
    fn any_row_gives_the_frame_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mp4");
        let spec = SynthSpec { seconds: 4.0, width: 320, height: 240, micro_events: 1, macro_events: 0, ..SynthSpec::default() };
        write_video(&spec, &path, &dir.path().join("truth.csv"), &mut |_, _| {}).unwrap();
        // The reference: every frame in order, stamped as the analysis stamps them.
        let mut source = VideoFileSource::open(&path).unwrap();
        let (mut timestamps, mut sums) = (Vec::new(), Vec::new());
        while let Some(frame) = source.next_frame().unwrap() {
            timestamps.push(frame.time.seconds);
            sums.push(checksum(&frame.image));
        }
        assert!(sums.len() >= 100, "{} frames", sums.len());
        let mut video = ReviewVideo::open(&path, timestamps.clone().into()).unwrap();
        assert_eq!(video.size(), (320, 240));
        let last = sums.len() - 1;
        // Forward steps, long jumps both ways, the ends, the same frame twice.
        for row in [0, 1, 2, 3, 60, 61, last, 5, 100, 99, 98, last - 1, 30, 30, 0, 119.min(last)] {
            assert_eq!(checksum(&video.frame(row).unwrap()), sums[row], "row {row}");
        }
        // Past the end: the last frame.
        assert_eq!(checksum(&video.frame(last + 10).unwrap()), sums[last]);

        let player = VideoPlayer::start(ReviewVideo::open(&path, timestamps.into()).unwrap());
        player.request(10);
        player.request(42);
        let started = std::time::Instant::now();
        let decoded = loop {
            if let Some(frame) = player.take()
                && frame.row == 42
            {
                break frame;
            }
            assert!(started.elapsed().as_secs() < 10, "the player never delivered row 42");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(checksum(&decoded.image.unwrap()), sums[42]);
    }

    #[test]
    fn a_missing_or_broken_video_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("video.mp4");
        std::fs::write(&broken, b"not a video").unwrap();
        let error = ReviewVideo::open(&broken, vec![0.0].into()).err().unwrap().to_string();
        assert!(error.contains("video.mp4"), "{error}");
    }
}
