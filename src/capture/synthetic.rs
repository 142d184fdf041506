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
