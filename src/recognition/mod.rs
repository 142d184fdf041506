//! Recognition of spotted events. For now: building the MER model's input from an onset and an
//! apex crop exactly as the training data was built (see `models/mer.md`).

mod input;

pub use input::{MER_SIZE, TvL1Flow, area_resize, flow_to_mer_input, mer_input, minmax_255, optical_strain};

#[derive(Debug, thiserror::Error)]
pub enum RecognitionError {
    #[error("the MER input needs crops of at least {min}x{min} px, got {width}x{height}")]
    CropTooSmall { min: usize, width: usize, height: usize },
    #[error("onset and apex crops differ in size: {0}x{1} vs {2}x{3}")]
    SizeMismatch(i32, i32, i32, i32),
    #[error(transparent)]
    Motion(#[from] crate::motion::MotionError),
    #[error("OpenCV error while building the MER input: {0}")]
    OpenCv(#[from] opencv::Error),
}
