//! The optical-flow model (`models/flow.onnx`, see `models/flow.md`): two aligned 128-px
//! grayscale crops in, the dense flow between them in crop pixels out.
//!
//! Inputs are the crops as they are (uint8 widened to raw 0..255 floats; the network
//! standardises each crop itself). The output follows OpenCV's convention, as `DisFlow` does:
//! `current(x + u, y + v) ~ previous(x, y)`.

use std::path::{Path, PathBuf};

use opencv::core::Mat;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::Tensor;

use super::{Contract, InferenceError, TensorSpec, load_session};
use crate::motion::{FlowEstimator, MotionError, MotionField};

/// Side of the crops the model takes (the pipeline's aligned crop).
pub const FLOW_CROP: usize = 128;

const SIDE: i64 = FLOW_CROP as i64;

pub(crate) const FLOW_CONTRACT: Contract = Contract {
    inputs: &[
        TensorSpec { name: "previous", shape: &[None, Some(1), Some(SIDE), Some(SIDE)] },
        TensorSpec { name: "current", shape: &[None, Some(1), Some(SIDE), Some(SIDE)] },
    ],
    outputs: &[TensorSpec { name: "flow", shape: &[None, Some(2), Some(SIDE), Some(SIDE)] }],
    one_at_a_time: true,
};

pub struct OnnxFlow {
    path: PathBuf,
    session: Session,
}

impl OnnxFlow {
    /// Loads and checks the model. One intra-op thread: measured as fast as two on the 2-core
    /// machine (`models/flow.md`), and the face stage runs beside it.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        Self::load_with_threads(path, 1)
    }

    pub fn load_with_threads(path: &Path, threads: usize) -> Result<Self, InferenceError> {
        Ok(Self { path: path.to_owned(), session: load_session(path, &FLOW_CONTRACT, threads)? })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the network on one pair (`FLOW_CROP`² raw 0..255 values each, row-major).
    pub fn flow(&mut self, previous: &[f32], current: &[f32]) -> Result<MotionField, InferenceError> {
        let run_error = |reason: String| InferenceError::Run { path: self.path.clone(), reason };
        let pixels = FLOW_CROP * FLOW_CROP;
        for (name, crop) in [("previous", previous), ("current", current)] {
            if crop.len() != pixels {
                return Err(run_error(format!("input '{name}' has {} values, expected {pixels}", crop.len())));
            }
        }
        let tensor = |crop: &[f32]| {
            Tensor::from_array(([1usize, 1, FLOW_CROP, FLOW_CROP], crop.to_vec())).map_err(|e| run_error(e.to_string()))
        };
        let inputs = ort::inputs!["previous" => tensor(previous)?, "current" => tensor(current)?];
        let outputs = self.session.run(inputs).map_err(|e| run_error(e.to_string()))?;
        let (_, values) = outputs["flow"].try_extract_tensor::<f32>().map_err(|e| run_error(e.to_string()))?;
        let values = values.get(..2 * pixels).ok_or_else(|| run_error(format!("fewer than {} values", 2 * pixels)))?;
        let (u, v) = values.split_at(pixels);
        Ok(MotionField { width: FLOW_CROP, height: FLOW_CROP, u: u.to_vec(), v: v.to_vec() })
    }
}

/// A `FLOW_CROP`-square CV_8UC1 crop as the model's raw 0..255 floats.
fn crop_values(crop: &Mat, model: &Path) -> Result<Vec<f32>, MotionError> {
    let side = FLOW_CROP as i32;
    if crop.typ() != opencv::core::CV_8UC1 || crop.cols() != side || crop.rows() != side {
        return Err(MotionError::Model(format!(
            "{} takes {side}x{side} 8-bit grayscale crops, got {}x{} of type {}",
            model.display(),
            crop.cols(),
            crop.rows(),
            crop.typ()
        )));
    }
    let bytes = if crop.is_continuous() { crop.data_bytes()?.to_vec() } else { crop.try_clone()?.data_bytes()?.to_vec() };
    Ok(bytes.into_iter().map(f32::from).collect())
}

impl FlowEstimator for OnnxFlow {
    fn name(&self) -> &str {
        "flow.onnx"
    }

    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
        let (previous, current) = (crop_values(previous, &self.path)?, crop_values(current, &self.path)?);
        self.flow(&previous, &current).map_err(|e| MotionError::Model(e.to_string()))
    }
}
