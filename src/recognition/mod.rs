//! Recognition of spotted events: the MER model's input built exactly as its training data was
//! (see `models/mer.md`), the class probabilities, an AU guess, and the pictures of the motion
//! (flow, combined flow, dynamic images).

mod au;
mod event;
pub mod images;
mod input;

pub use au::guess_aus;
pub use event::{AnalysedEvent, EVENT_PICTURES, EventAnalyser, EventImages, Recognition};
pub use images::RgbImage;
pub use input::{
    MER_EYE_X, MER_EYE_Y, MER_SIZE, TvL1Flow, area_resize, canonical_mer_input, flow_to_mer_input, mer_input, mer_window,
    minmax_255, optical_strain,
};

#[derive(Debug, thiserror::Error)]
pub enum RecognitionError {
    #[error("the MER input needs crops of at least {min}x{min} px, got {width}x{height}")]
    CropTooSmall { min: usize, width: usize, height: usize },
    #[error("onset and apex crops differ in size: {0}x{1} vs {2}x{3}")]
    SizeMismatch(i32, i32, i32, i32),
    #[error("the MER input needs square face crops, got {0}x{1}")]
    NotSquare(i32, i32),
    #[error("the {0} frame of event {1} is no longer in memory")]
    MissingFrame(String, u32),
    #[error(transparent)]
    Motion(#[from] crate::motion::MotionError),
    #[error("OpenCV error while analysing an event: {0}")]
    OpenCv(#[from] opencv::Error),
}
