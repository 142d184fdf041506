//! The micro-expression recogniser (`models/mer.onnx`, see `models/mer.md`): an onset->apex
//! motion image in, three class logits out.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::{Contract, InferenceError, TensorSpec, load_session};

/// Class order of the model's outputs.
pub const MER_CLASSES: [&str; 3] = ["negative", "positive", "surprise"];

/// One motion image: channels (u, v, optical strain) x 28 x 28, as `models/mer.md` describes.
pub const MER_INPUT_SHAPE: [usize; 3] = [3, 28, 28];

pub(crate) const MER_CONTRACT: Contract = Contract {
    inputs: &[TensorSpec { name: "motion", shape: &[None, Some(3), Some(28), Some(28)] }],
    outputs: &[TensorSpec { name: "logits", shape: &[None, Some(3)] }],
    one_at_a_time: false,
};

pub struct Recogniser {
    path: PathBuf,
    session: Session,
}

impl Recogniser {
    /// Loads and checks the model; one intra-op thread, as one event is one small image.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        Ok(Self { path: path.to_owned(), session: load_session(path, &MER_CONTRACT, 1)? })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw logits for one motion image (`3 * 28 * 28` values, channel-major).
    pub fn logits(&mut self, motion: &[f32]) -> Result<[f32; 3], InferenceError> {
        let run_error = |reason: String| InferenceError::Run { path: self.path.clone(), reason };
        let expected: usize = MER_INPUT_SHAPE.iter().product();
        if motion.len() != expected {
            return Err(run_error(format!("input has {} values, expected {expected}", motion.len())));
        }
        let [c, h, w] = MER_INPUT_SHAPE;
        let tensor = Tensor::from_array(([1usize, c, h, w], motion.to_vec())).map_err(|e| run_error(e.to_string()))?;
        let outputs = self.session.run(ort::inputs!["motion" => tensor]).map_err(|e| run_error(e.to_string()))?;
        let (_, logits) = outputs["logits"].try_extract_tensor::<f32>().map_err(|e| run_error(e.to_string()))?;
        let mut out = [0.0; 3];
        out.copy_from_slice(logits.get(..3).ok_or_else(|| run_error("fewer than 3 logits".into()))?);
        Ok(out)
    }

    /// Class probabilities (softmax of the logits), in [`MER_CLASSES`] order.
    pub fn probabilities(&mut self, motion: &[f32]) -> Result<[f32; 3], InferenceError> {
        let logits = self.logits(motion)?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp = logits.map(|l| (l - max).exp());
        let sum: f32 = exp.iter().sum();
        Ok(exp.map(|e| e / sum))
    }
}
