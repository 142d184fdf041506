//! The built-in synthetic face (see [`crate::synth`]) as a frame source: the demo when no camera
//! exists and the ground truth for tests.

use crate::synth::{SynthSpec, SyntheticFace};

use super::{CaptureError, Frame, FrameTime, Source, SourceInfo, SourceKind, TimeBase, monotonic_ns};

pub struct SyntheticSource {
    face: SyntheticFace,
    info: SourceInfo,
    next_index: u64,
}

impl SyntheticSource {
    pub fn new(spec: SynthSpec) -> Result<Self, CaptureError> {
        let face = SyntheticFace::new(spec)?;
        let spec = face.spec();
        let info = SourceInfo {
            kind: SourceKind::Synthetic,
            name: format!("synthetic (seed {})", spec.seed),
            width: spec.width,
            height: spec.height,
            nominal_fps: spec.fps,
            frame_count: Some(face.frame_count()),
        };
        Ok(Self { face, info, next_index: 0 })
    }

    pub fn face(&self) -> &SyntheticFace {
        &self.face
    }
}

impl Source for SyntheticSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        false
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.next_index >= self.face.frame_count() {
            return Ok(None);
        }
        let image = self.face.render(self.next_index)?;
        let frame = Frame {
            index: self.next_index,
            time: FrameTime {
                seconds: self.face.frame_time_ms(self.next_index) / 1000.0,
                base: TimeBase::Media,
                capture_ns: monotonic_ns(),
            },
            image,
        };
        self.next_index += 1;
        Ok(Some(frame))
    }
}

/// The synthetic face delivered the way a camera delivers it (live, on the capture time base),
/// until it fails as an unplugged camera does after `unplug_after` frames: the camera-loss drill
/// for tests without a camera. Frames carry the generator's clock (its nominal rate), because a
/// drill renders faster than real time.
pub struct UnpluggedCamera {
    face: SyntheticFace,
    info: SourceInfo,
    next_index: u64,
    unplug_after: u64,
}

impl UnpluggedCamera {
    pub fn new(spec: SynthSpec, unplug_after: u64) -> Result<Self, CaptureError> {
        let face = SyntheticFace::new(spec)?;
        let spec = face.spec();
        let info = SourceInfo {
            kind: SourceKind::Camera,
            name: "camera 0 (simulated)".into(),
            width: spec.width,
            height: spec.height,
            nominal_fps: spec.fps,
            frame_count: None,
        };
        Ok(Self { face, info, next_index: 0, unplug_after })
    }
}

impl Source for UnpluggedCamera {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let lost = |reason: String| CaptureError::CameraLost { index: 0, frames: self.next_index, reason };
        if self.next_index == self.unplug_after {
            return Err(lost("No such device (os error 19)".into()));
        }
        let image = self.face.render(self.next_index).map_err(|e| lost(e.to_string()))?;
        let time = FrameTime {
            seconds: self.face.frame_time_ms(self.next_index) / 1000.0,
            base: TimeBase::Capture,
            capture_ns: monotonic_ns(),
        };
        let frame = Frame { index: self.next_index, time, image };
        self.next_index += 1;
        Ok(Some(frame))
    }
}
