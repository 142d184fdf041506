//! Helpers shared by the integration tests.

use glimpse::capture::{CaptureError, Frame, FrameTime, Source, SourceInfo, SourceKind, TimeBase, monotonic_ns};
use glimpse::synth::{SynthSpec, SyntheticFace};

/// A simulated camera: synthetic frames at 30 fps stamped on the monotonic clock, which fails the
/// way an unplugged camera does after `dies_after` frames.
pub struct DyingCamera {
    face: SyntheticFace,
    info: SourceInfo,
    next: u64,
    dies_after: u64,
}

impl DyingCamera {
    pub fn new(spec: SynthSpec, dies_after: u64) -> Self {
        let face = SyntheticFace::new(spec).expect("a valid synthetic face");
        let info = SourceInfo {
            kind: SourceKind::Camera,
            name: "camera 0 (simulated)".into(),
            width: 640,
            height: 480,
            nominal_fps: 30.0,
            frame_count: None,
        };
        Self { face, info, next: 0, dies_after }
    }
}

impl Source for DyingCamera {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.next == self.dies_after {
            return Err(CaptureError::CameraLost { index: 0, frames: self.next, reason: "No such device (os error 19)".into() });
        }
        let image = self.face.render(self.next).map_err(|e| CaptureError::CameraLost {
            index: 0,
            frames: self.next,
            reason: e.to_string(),
        })?;
        let frame = Frame {
            index: self.next,
            time: FrameTime { seconds: self.next as f64 / 30.0, base: TimeBase::Capture, capture_ns: monotonic_ns() },
            image,
        };
        self.next += 1;
        Ok(Some(frame))
    }
}
