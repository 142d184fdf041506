//! Cameras through nokhwa (V4L2 on Linux), stamped with the monotonic clock on arrival.

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;

use super::{CaptureError, Frame, FrameTime, Source, SourceInfo, SourceKind, TimeBase, monotonic_ns};

/// Which camera to open and the format to ask it for.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    pub index: u32,
    /// Requested frame size; the camera may pick the closest it supports.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for CameraSpec {
    fn default() -> Self {
        Self { index: 0, width: 640, height: 480, fps: 30 }
    }
}

/// A camera as `glimpse cameras` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraListing {
    pub index: String,
    pub name: String,
    pub description: String,
}

/// Lists the cameras the native backend can see. No camera is an empty list, not an error.
pub fn list_cameras() -> Result<Vec<CameraListing>, CaptureError> {
    let cameras = nokhwa::query(ApiBackend::Auto)
        .map_err(|error| CaptureError::NoCamera { detail: format!(" (querying cameras failed: {error})") })?;
    Ok(cameras
        .into_iter()
        .map(|camera| CameraListing {
            index: camera.index().to_string(),
            name: camera.human_name(),
            description: camera.description().to_owned(),
        })
        .collect())
}

/// A camera. nokhwa's camera cannot move between threads, so it lives on a thread of its own
/// that stamps each frame on arrival and hands it over a small channel; this handle is what the
/// capture thread reads.
pub struct CameraSource {
    info: SourceInfo,
    frames: Receiver<Result<Frame, CaptureError>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraSource {
    pub fn open(spec: CameraSpec) -> Result<Self, CaptureError> {
        let available = list_cameras()?;
        if available.is_empty() {
            return Err(CaptureError::NoCamera { detail: String::new() });
        }
        let (opened_tx, opened_rx) = bounded::<Result<SourceInfo, CaptureError>>(1);
        let (frames_tx, frames) = bounded::<Result<Frame, CaptureError>>(4);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let thread_spec = spec.clone();
            std::thread::Builder::new()
                .name("camera".into())
                .spawn(move || camera_thread(thread_spec, available.len(), opened_tx, frames_tx, stop))
                .map_err(|e| CaptureError::CameraOpen { index: spec.index, reason: e.to_string() })?
        };
        let info = opened_rx.recv().map_err(|_| CaptureError::CameraOpen {
            index: spec.index,
            reason: "the camera thread ended while opening".into(),
        })??;
        Ok(Self { info, frames, stop, thread: Some(thread) })
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Source for CameraSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        match self.frames.recv() {
            Ok(Ok(frame)) => Ok(Some(frame)),
            Ok(Err(error)) => Err(error),
            // The camera thread only ends after reporting why, or when asked to stop.
            Err(_) => Ok(None),
        }
    }
}

fn camera_thread(
    spec: CameraSpec,
    cameras_present: usize,
    opened: Sender<Result<SourceInfo, CaptureError>>,
    frames: Sender<Result<Frame, CaptureError>>,
    stop: Arc<AtomicBool>,
) {
    let open_error = |reason: String| CaptureError::CameraOpen { index: spec.index, reason };
    let wanted = CameraFormat::new(Resolution::new(spec.width, spec.height), FrameFormat::MJPEG, spec.fps);
    let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
    let mut camera = match Camera::new(CameraIndex::Index(spec.index), request) {
        Ok(camera) => camera,
        Err(error) => {
            let _ = opened.send(Err(open_error(format!("{error} (cameras present: {cameras_present})"))));
            return;
        }
    };
    if let Err(error) = camera.open_stream() {
        let _ = opened.send(Err(open_error(error.to_string())));
        return;
    }
    let format = camera.camera_format();
    let info = SourceInfo {
        kind: SourceKind::Camera,
        name: format!("camera {} ({})", spec.index, camera.info().human_name()),
        width: format.resolution().width() as i32,
        height: format.resolution().height() as i32,
        nominal_fps: f64::from(format.frame_rate()),
        frame_count: None,
    };
    if opened.send(Ok(info)).is_err() {
        return;
    }
    let mut index = 0u64;
    let mut first_capture_ns = None;
    while !stop.load(Ordering::Acquire) {
        let lost = |reason: String| CaptureError::CameraLost { index: spec.index, frames: index, reason };
        let frame = camera.frame().map_err(|error| lost(error.to_string())).and_then(|buffer| {
            // Stamp on arrival, before decoding, so decode time counts as latency.
            let capture_ns = monotonic_ns();
            let rgb = buffer.decode_image::<RgbFormat>().map_err(|error| lost(error.to_string()))?;
            let image =
                rgb_to_bgr_mat(rgb.width() as i32, rgb.height() as i32, rgb.as_raw()).map_err(|error| lost(error.to_string()))?;
            let first = *first_capture_ns.get_or_insert(capture_ns);
            Ok(Frame {
                index,
                time: FrameTime { seconds: (capture_ns - first) as f64 / 1e9, base: TimeBase::Capture, capture_ns },
                image,
            })
        });
        let failed = frame.is_err();
        // The reader is the capture thread, which never waits on the analysis: a full channel
        // only means it is shutting down.
        if frames.send(frame).is_err() || failed {
            break;
        }
        index += 1;
    }
    let _ = camera.stop_stream();
}

fn rgb_to_bgr_mat(width: i32, height: i32, rgb: &[u8]) -> Result<Mat, opencv::Error> {
    let expected = (width * height * 3) as usize;
    if rgb.len() != expected {
        return Err(opencv::Error::new(
            opencv::core::StsUnmatchedSizes,
            format!("decoded frame has {} bytes, expected {expected} for {width}x{height} RGB", rgb.len()),
        ));
    }
    let flat = Mat::from_slice(rgb)?;
    let image = flat.reshape(3, height)?;
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&image, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    Ok(bgr)
}
