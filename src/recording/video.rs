//! The session video: raw frames -> FFmpeg's libx264 (a child process, fed on its stdin) ->
//! H.264 access units on its stdout -> [`FragmentedMp4`] with each frame's real timestamp.
//!
//! The encoder is told to make no B-frames (decode order = display order, so a frame's
//! timestamp can follow it through) and to mark every frame with a delimiter (so that its
//! output splits into frames). A writer thread turns the encoder's output into the file as it
//! comes, so the file is never more than a fragment behind the frames handed in.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use super::RecordingError;
use super::mp4::{AnnexBSplitter, FragmentedMp4, TIMESCALE};

/// Frames between keyframes at most, in seconds of video: a player seeks to within this.
const KEYFRAME_SECONDS: f64 = 1.0;

/// What the writer thread knows when it ends.
#[derive(Debug, Default, Clone)]
struct WriterState {
    frames_written: u64,
    bytes_written: u64,
    error: Option<String>,
    /// What the encoder printed (errors only).
    encoder_log: String,
}

pub struct VideoWriter {
    path: PathBuf,
    width: i32,
    height: i32,
    child: Child,
    stdin: Option<ChildStdin>,
    timestamps: Option<Sender<u64>>,
    writer: Option<JoinHandle<()>>,
    state: Arc<Mutex<WriterState>>,
    frames_sent: u64,
}

impl VideoWriter {
    /// Starts the encoder for frames of `width x height` (odd sizes lose their last column or
    /// row: 4:2:0 video needs even ones).
    pub fn create(path: &Path, width: i32, height: i32, nominal_fps: f64) -> Result<Self, RecordingError> {
        let (width, height) = (width & !1, height & !1);
        if width < 16 || height < 16 {
            return Err(RecordingError::Video {
                path: path.to_owned(),
                reason: format!("frames of {width}x{height} are too small to encode"),
            });
        }
        let file = crate::session::create_private_file(path)
            .map_err(|source| RecordingError::Create { path: path.to_owned(), source })?;
        let gop = (nominal_fps * KEYFRAME_SECONDS).round().max(1.0) as u32;
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-f", "rawvideo", "-pix_fmt", "bgr24", "-video_size", &format!("{width}x{height}")])
            .args(["-framerate", &format!("{:.3}", nominal_fps.clamp(1.0, 1000.0)), "-i", "pipe:0"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "20", "-pix_fmt", "yuv420p"])
            .args(["-bf", "0", "-g", &gop.to_string(), "-x264-params", "aud=1"])
            .args(["-flush_packets", "1", "-f", "h264", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RecordingError::Video {
                path: path.to_owned(),
                reason: format!("cannot start the H.264 encoder (ffmpeg, from the ffmpeg package): {e}"),
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
            return Err(RecordingError::Video { path: path.to_owned(), reason: "the encoder's pipes did not open".into() });
        };
        let state = Arc::new(Mutex::new(WriterState::default()));
        let (timestamps, timestamp_rx) = unbounded();
        let writer = {
            let state = state.clone();
            let mp4 = FragmentedMp4::new(file, width as u16, height as u16, nominal_fps);
            std::thread::Builder::new()
                .name("glimpse-video".into())
                .spawn(move || write_video(stdout, stderr, timestamp_rx, mp4, &state))
                .map_err(|e| RecordingError::Video {
                    path: path.to_owned(),
                    reason: format!("cannot start the video thread: {e}"),
                })?
        };
        Ok(Self {
            path: path.to_owned(),
            width,
            height,
            child,
            stdin: Some(stdin),
            timestamps: Some(timestamps),
            writer: Some(writer),
            state,
            frames_sent: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames that have reached the file.
    pub fn frames_written(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.frames_written)
    }

    pub fn bytes_written(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.bytes_written)
    }

    /// The first error of the writer thread (disk full, encoder died), if any.
    pub fn error(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.error.clone())
    }

    /// Hands a BGR frame shown at `seconds` (the recording's own time line) to the encoder.
    pub fn push(&mut self, image: &Mat, seconds: f64) -> Result<(), RecordingError> {
        if let Some(reason) = self.error() {
            return Err(RecordingError::Video { path: self.path.clone(), reason });
        }
        let video_error = |reason: String| RecordingError::Video { path: self.path.clone(), reason };
        let exact = image.cols() == self.width && image.rows() == self.height && image.is_continuous();
        let fits = image.cols() >= self.width
            && image.rows() >= self.height
            && image.cols() <= self.width + 1
            && image.rows() <= self.height + 1;
        // The usual frame goes to the encoder as it is; an odd-sized one loses its last column or
        // row, another size (a camera reopened at a new resolution) is scaled.
        let converted = if exact {
            None
        } else if fits {
            let roi = opencv::core::Rect::new(0, 0, self.width, self.height);
            Some(Mat::roi(image, roi).and_then(|m| m.try_clone()).map_err(|e| video_error(e.to_string()))?)
        } else {
            let mut scaled = Mat::default();
            imgproc::resize(image, &mut scaled, Size::new(self.width, self.height), 0.0, 0.0, imgproc::INTER_AREA)
                .map_err(|e| video_error(e.to_string()))?;
            Some(scaled)
        };
        let bytes = converted.as_ref().unwrap_or(image).data_bytes().map_err(|e| video_error(e.to_string()))?;
        if bytes.len() != (self.width * self.height * 3) as usize {
            return Err(video_error(format!("a frame of {} bytes is not {}x{} BGR", bytes.len(), self.width, self.height)));
        }
        let ticks = (seconds.max(0.0) * f64::from(TIMESCALE)).round() as u64;
        if let Some(timestamps) = &self.timestamps {
            // The writer thread only ends on an error, which was checked above.
            let _ = timestamps.send(ticks);
        }
        let stdin = self.stdin.as_mut().ok_or_else(|| video_error("the encoder is closed".into()))?;
        if let Err(error) = stdin.write_all(bytes) {
            let reason = self.error().unwrap_or_else(|| format!("the encoder stopped taking frames: {error}"));
            return Err(video_error(reason));
        }
        self.frames_sent += 1;
        Ok(())
    }

    /// Closes the encoder's input, waits for the last frames to reach the file; returns the
    /// number of frames in it.
    pub fn finish(mut self) -> Result<u64, RecordingError> {
        self.close()
    }

    fn close(&mut self) -> Result<u64, RecordingError> {
        drop(self.stdin.take());
        drop(self.timestamps.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let status = self.child.wait();
        let state = self.state.lock().map(|s| s.clone()).unwrap_or_default();
        if let Some(reason) = state.error {
            return Err(RecordingError::Video { path: self.path.clone(), reason });
        }
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                let reason = format!("the encoder exited with {status}: {}", state.encoder_log);
                return Err(RecordingError::Video { path: self.path.clone(), reason });
            }
            Err(e) => {
                return Err(RecordingError::Video {
                    path: self.path.clone(),
                    reason: format!("cannot wait for the encoder: {e}"),
                });
            }
        }
        if state.frames_written != self.frames_sent {
            return Err(RecordingError::Video {
                path: self.path.clone(),
                reason: format!(
                    "{} frames were sent to the encoder but {} reached the file",
                    self.frames_sent, state.frames_written
                ),
            });
        }
        Ok(state.frames_written)
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.close();
        }
    }
}

/// The writer thread: encoder output -> access units -> the MP4 file, each frame with the next
/// timestamp handed in. Ends at the end of the encoder's output or on the first error.
fn write_video(
    mut encoded: impl Read,
    mut encoder_log: impl Read + Send + 'static,
    timestamps: Receiver<u64>,
    mut mp4: FragmentedMp4<std::fs::File>,
    state: &Mutex<WriterState>,
) {
    // Drained on its own thread so that a chatty encoder never blocks on a full stderr pipe.
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = encoder_log.read_to_string(&mut text);
        text
    });
    let mut splitter = AnnexBSplitter::default();
    let mut chunk = vec![0u8; 1 << 16];
    let fail = |state: &Mutex<WriterState>, reason: String| {
        if let Ok(mut s) = state.lock() {
            s.error.get_or_insert(reason);
        }
    };
    let write_units = |units: Vec<super::mp4::AccessUnit>, mp4: &mut FragmentedMp4<std::fs::File>| -> Result<(), String> {
        for unit in units {
            let pts = timestamps.recv().map_err(|_| "the encoder returned more frames than it was given".to_string())?;
            if let Err(error) = mp4.push(&unit, pts) {
                // Cut a half-written fragment off, so that the file ends on a whole one.
                let _ = mp4.get_ref().set_len(mp4.bytes_written());
                return Err(format!("cannot write the video (its first {} frames are saved): {error}", mp4.samples_written()));
            }
        }
        if let Ok(mut s) = state.lock() {
            s.frames_written = mp4.samples_written();
            s.bytes_written = mp4.bytes_written();
        }
        Ok(())
    };
    loop {
        match encoded.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if let Err(reason) = write_units(splitter.push(&chunk[..n]), &mut mp4) {
                    return fail(state, reason);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(state, format!("cannot read the encoder's output: {e}")),
        }
    }
    if let Err(reason) = write_units(splitter.finish(), &mut mp4) {
        return fail(state, reason);
    }
    let finished = mp4.finish();
    if finished.is_err() {
        let _ = mp4.get_ref().set_len(mp4.bytes_written());
    }
    let (frames, bytes) = (mp4.samples_written(), mp4.bytes_written());
    let finished = finished.and_then(|()| mp4.into_inner().sync_all());
    let log = log.join().unwrap_or_default();
    if let Ok(mut s) = state.lock() {
        s.frames_written = frames;
        s.bytes_written = bytes;
        s.encoder_log = log.trim().to_string();
    }
    if let Err(e) = finished {
        fail(state, format!("cannot write the video: {e}"));
    }
}
