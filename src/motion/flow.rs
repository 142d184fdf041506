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

#[cfg(test)]
mod tests {
    use super::*;

    /// The true shift with a blotchy error of up to 0.3 px on top: what the refinement cleans.
    struct Blotchy {
        shift: f32,
    }

    impl Blotchy {
        fn error(x: usize, y: usize) -> f32 {
            0.3 * ((x as f32 * 0.35).sin() * (y as f32 * 0.29).cos())
        }
    }

    impl FlowEstimator for Blotchy {
        fn name(&self) -> &str {
            "blotchy"
        }

        fn estimate(&mut self, previous: &Mat, _current: &Mat) -> Result<MotionField, MotionError> {
            let (w, h) = (previous.cols() as usize, previous.rows() as usize);
            let mut field = MotionField::zeros(w, h);
            for i in 0..w * h {
                field.u[i] = self.shift + Self::error(i % w, i / w);
                field.v[i] = Self::error(i / w, i % w);
            }
            Ok(field)
        }
    }

    fn texture(shift: f32) -> Mat {
        let n = 96usize;
        let pixels: Vec<u8> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f32 - shift, (i / n) as f32);
                (127.5 + 60.0 * (0.21 * x + 0.13 * y).sin() + 40.0 * (0.17 * y - 0.09 * x).cos()).round() as u8
            })
            .collect();
        Mat::from_slice(&pixels).unwrap().reshape(1, n as i32).unwrap().try_clone().unwrap()
    }

    #[test]
    fn a_field_survives_the_round_trip_through_an_opencv_matrix() {
        let mut field = MotionField::zeros(3, 2);
        field.u = vec![0.5, -1.0, 2.0, 0.0, 0.25, 3.0];
        field.v = vec![1.5, 0.0, -2.0, 4.0, 0.75, -3.0];
        let mat = field.to_mat().unwrap();
        assert_eq!((mat.rows(), mat.cols(), mat.channels()), (2, 3, 2));
        assert_eq!(MotionField::from_mat(&mat).unwrap(), field);
    }

    #[test]
    fn refinement_cleans_an_estimate_towards_the_true_shift() {
        let (previous, current) = (texture(0.0), texture(0.6));
        let mean_error = |field: &MotionField| {
            // Inside the border, the texture moved 0.6 px right and not at all vertically.
            let inner: Vec<(usize, usize)> = (16..80).flat_map(|y| (16..80).map(move |x| (x, y))).collect();
            inner.iter().map(|&(x, y)| (field.at(x, y).0 - 0.6).hypot(field.at(x, y).1)).sum::<f32>() / inner.len() as f32
        };
        let before = mean_error(&Blotchy { shift: 0.6 }.estimate(&previous, &current).unwrap());
        let mut refined = RefinedFlow::new(Box::new(Blotchy { shift: 0.6 }), 1).unwrap();
        assert_eq!(refined.name(), "blotchy-vr");
        let after = mean_error(&refined.estimate(&previous, &current).unwrap());
        assert!(after < 0.7 * before, "mean error {before} px before the refinement, {after} after");
    }
}
