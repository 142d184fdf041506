//! Dense optical flow between two aligned crops, behind one interface so that the project's own
//! ONNX flow model can replace OpenCV's DIS.

use opencv::core::{Mat, Ptr};
use opencv::prelude::*;
use opencv::video::{self, DISOpticalFlow};

use super::MotionError;

/// A dense displacement field in crop pixels: `u[i]`, `v[i]` for pixel `i = y * width + x`.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionField {
    pub width: usize,
    pub height: usize,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl MotionField {
    pub fn zeros(width: usize, height: usize) -> Self {
        Self { width, height, u: vec![0.0; width * height], v: vec![0.0; width * height] }
    }

    pub fn at(&self, x: usize, y: usize) -> (f32, f32) {
        let i = y * self.width + x;
        (self.u[i], self.v[i])
    }

    /// Copies an OpenCV CV_32FC2 flow matrix.
    pub fn from_mat(flow: &Mat) -> Result<Self, MotionError> {
        let (width, height) = (flow.cols() as usize, flow.rows() as usize);
        let mut field = Self::zeros(width, height);
        let data = flow.data_typed::<opencv::core::Vec2f>()?;
        for (i, vector) in data.iter().enumerate().take(width * height) {
            field.u[i] = vector[0];
            field.v[i] = vector[1];
        }
        Ok(field)
    }
}

/// Anything that measures the motion from one grayscale crop to the next.
pub trait FlowEstimator: Send {
    fn name(&self) -> &str;
    /// Flow taking `previous` to `current`: `current(x + u, y + v) ~ previous(x, y)`.
    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError>;
}

/// OpenCV's DIS (dense inverse search) flow, tuned for small faces and sub-pixel motion: patches
/// down to full resolution, then variational refinement. These settings recover shifts and local
/// deformations within 0.1 px on the aligned astronaut crop (`tests/motion.rs`); the preset's
/// coarser finest scale does not.
pub struct DisFlow {
    dis: Ptr<DISOpticalFlow>,
}

impl DisFlow {
    pub fn new() -> Result<Self, MotionError> {
        let mut dis = DISOpticalFlow::create(video::DISOpticalFlow_PRESET_MEDIUM)?;
        dis.set_finest_scale(0)?;
        dis.set_patch_size(8)?;
        dis.set_patch_stride(4)?;
        dis.set_gradient_descent_iterations(12)?;
        dis.set_variational_refinement_iterations(5)?;
        dis.set_use_mean_normalization(true)?;
        dis.set_use_spatial_propagation(true)?;
        Ok(Self { dis })
    }
}

impl FlowEstimator for DisFlow {
    fn name(&self) -> &str {
        "dis"
    }

    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
        let mut flow = Mat::default();
        self.dis.calc(previous, current, &mut flow)?;
        MotionField::from_mat(&flow)
    }
}

/// OpenCV's Farneback flow with the settings of OpenCV's own example (pyramid scale 0.5, 3
/// levels, 15-px window, 3 iterations, polynomial 5 / 1.2), for comparison (`--flow farneback`).
pub struct FarnebackFlow;

impl FlowEstimator for FarnebackFlow {
    fn name(&self) -> &str {
        "farneback"
    }

    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
        let mut flow = Mat::default();
        video::calc_optical_flow_farneback(previous, current, &mut flow, 0.5, 3, 15, 3, 5, 1.2, 0)?;
        MotionField::from_mat(&flow)
    }
}

/// Another estimator's flow, then OpenCV's variational refinement (brightness and gradient
/// constancy with a smoothness term, solved by SOR): DIS's own last stage, with DIS's
/// parameters. It fills smooth, textureless skin (the forehead) from the motion around it, where
/// a window-based estimate has little to go on.
pub struct RefinedFlow {
    inner: Box<dyn FlowEstimator>,
    refinement: Ptr<video::VariationalRefinement>,
    name: String,
}

impl RefinedFlow {
    /// `iterations`: outer fixed-point iterations (DIS's `variational_refinement_iterations`).
    pub fn new(inner: Box<dyn FlowEstimator>, iterations: i32) -> Result<Self, MotionError> {
        let mut refinement = video::VariationalRefinement::create()?;
        refinement.set_fixed_point_iterations(iterations)?;
        refinement.set_sor_iterations(5)?;
        refinement.set_omega(1.6)?;
        refinement.set_alpha(20.0)?;
        refinement.set_delta(5.0)?;
        refinement.set_gamma(10.0)?;
        let name = format!("{}-vr", inner.name());
        Ok(Self { inner, refinement, name })
    }
}

impl MotionField {
    /// As an OpenCV CV_32FC2 flow matrix.
    pub fn to_mat(&self) -> Result<Mat, MotionError> {
        let vectors: Vec<opencv::core::Vec2f> =
            self.u.iter().zip(&self.v).map(|(&u, &v)| opencv::core::Vec2f::from([u, v])).collect();
        Ok(Mat::from_slice(&vectors)?.reshape(2, self.height as i32)?.try_clone()?)
    }
}

impl FlowEstimator for RefinedFlow {
    fn name(&self) -> &str {
        &self.name
    }

    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
        let mut flow = self.inner.estimate(previous, current)?.to_mat()?;
        self.refinement.calc(previous, current, &mut flow)?;
        MotionField::from_mat(&flow)
    }
}
