//! Motion stage: flow between aligned crops a fixed time apart, the head's own motion fitted and
//! removed, and the remaining (facial) motion measured per region.

mod flow;
mod regions;

pub use flow::{DisFlow, FarnebackFlow, FlowEstimator, MotionField, RefinedFlow};
pub use regions::{Region, RegionMasks, RegionMotion, RegionSignals};

/// Fixed-point iterations of the refinement after `flow.onnx` (`--flow onnx-vr`); DIS runs 5.
pub const REFINEMENT_ITERATIONS: i32 = 1;

use std::collections::VecDeque;
use std::sync::Arc;

use opencv::core::Mat;
use opencv::prelude::*;

use crate::face::AlignedFace;
use crate::face::template::{CANONICAL_68, TEMPLATE_SIZE};

#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    #[error("crops differ in size: {0}x{1} vs {2}x{3}")]
    SizeMismatch(i32, i32, i32, i32),
    #[error("flow model: {0}")]
    Model(String),
    #[error("OpenCV error in the motion stage: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// The head's rigid-ish motion between the two crops, from an affine fit to the flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct HeadMotion {
    /// Displacement of the crop centre, crop pixels.
    pub tx: f32,
    pub ty: f32,
    pub rotation_deg: f32,
    /// Relative change of size (0 = none).
    pub scale: f32,
}

/// What the motion stage measured between two crops.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub head: HeadMotion,
    /// Flow with the head's motion removed.
    pub residual: Arc<MotionField>,
    pub regions: RegionSignals,
}

/// Measures facial motion between two aligned crops: flow, head-motion fit, residual, regions.
pub struct MotionAnalyser {
    estimator: Box<dyn FlowEstimator>,
    size: usize,
    masks: RegionMasks,
    /// Pixels used to fit the head motion: the face without eyes and mouth, subsampled.
    fit_pixels: Vec<usize>,
}

impl MotionAnalyser {
    pub fn new(estimator: Box<dyn FlowEstimator>, crop_size: usize) -> Self {
        Self { estimator, size: crop_size, masks: RegionMasks::new(crop_size), fit_pixels: head_fit_pixels(crop_size) }
    }

    pub fn estimator_name(&self) -> &str {
        self.estimator.name()
    }

    pub fn masks(&self) -> &RegionMasks {
        &self.masks
    }

    pub fn measure(&mut self, previous: &Mat, current: &Mat) -> Result<Measurement, MotionError> {
        if previous.size()? != current.size()? || current.cols() as usize != self.size {
            return Err(MotionError::SizeMismatch(previous.cols(), previous.rows(), current.cols(), current.rows()));
        }
        let mut field = self.estimator.estimate(previous, current)?;
        let affine = fit_affine(&field, &self.fit_pixels);
        let c = self.size as f32 / 2.0;
        let head = HeadMotion {
            tx: affine.u[0] + affine.u[1] * c + affine.u[2] * c,
            ty: affine.v[0] + affine.v[1] * c + affine.v[2] * c,
            rotation_deg: ((affine.v[1] - affine.u[2]) / 2.0).to_degrees(),
            scale: (affine.u[1] + affine.v[2]) / 2.0,
        };
        for y in 0..field.height {
            for x in 0..field.width {
                let i = y * field.width + x;
                let (px, py) = (x as f32, y as f32);
                field.u[i] -= affine.u[0] + affine.u[1] * px + affine.u[2] * py;
                field.v[i] -= affine.v[0] + affine.v[1] * px + affine.v[2] * py;
            }
        }
        let regions = self.masks.measure(&field);
        Ok(Measurement { head, residual: Arc::new(field), regions })
    }
}

/// `u = u0 + u1 x + u2 y`, `v = v0 + v1 x + v2 y`.
#[derive(Debug, Clone, Copy, Default)]
struct AffineFlow {
    u: [f32; 3],
    v: [f32; 3],
}

/// Robust (iteratively reweighted, Tukey) affine fit: local expression motion covers a small part
/// of the face, so it is down-weighted as an outlier and stays in the residual.
fn fit_affine(field: &MotionField, pixels: &[usize]) -> AffineFlow {
    let mut weights = vec![1.0f64; pixels.len()];
    let mut model = AffineFlow::default();
    for iteration in 0..4 {
        let mut normal = [[0.0f64; 3]; 3];
        let mut rhs_u = [0.0f64; 3];
        let mut rhs_v = [0.0f64; 3];
        for (&i, &w) in pixels.iter().zip(&weights) {
            if w == 0.0 {
                continue;
            }
            let basis = [1.0, (i % field.width) as f64, (i / field.width) as f64];
            for r in 0..3 {
                for c in 0..3 {
                    normal[r][c] += w * basis[r] * basis[c];
                }
                rhs_u[r] += w * basis[r] * field.u[i] as f64;
                rhs_v[r] += w * basis[r] * field.v[i] as f64;
            }
        }
        let (Some(u), Some(v)) = (solve3(normal, rhs_u), solve3(normal, rhs_v)) else {
            break;
        };
        model = AffineFlow { u: u.map(|x| x as f32), v: v.map(|x| x as f32) };
        if iteration == 3 {
            break;
        }
        let residuals: Vec<f32> = pixels
            .iter()
            .map(|&i| {
                let (x, y) = ((i % field.width) as f32, (i / field.width) as f32);
                let du = field.u[i] - (model.u[0] + model.u[1] * x + model.u[2] * y);
                let dv = field.v[i] - (model.v[0] + model.v[1] * x + model.v[2] * y);
                du.hypot(dv)
            })
            .collect();
        let mut sorted = residuals.clone();
        let middle = sorted.len() / 2;
        let median = *sorted.select_nth_unstable_by(middle, f32::total_cmp).1;
        // Tukey's biweight with a cut-off of 4.685 robust sigmas (at least 0.1 px).
        let cutoff = (4.685 * 1.4826 * median).max(0.1) as f64;
        for (w, &r) in weights.iter_mut().zip(&residuals) {
            let t = r as f64 / cutoff;
            *w = if t < 1.0 { (1.0 - t * t).powi(2) } else { 0.0 };
        }
    }
    model
}

fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (col, slot) in out.iter_mut().enumerate() {
        let mut m = a;
        for row in 0..3 {
            m[row][col] = b[row];
        }
        *slot = det(m) / d;
    }
    Some(out)
}

/// The face inside its outline (jaw and brows), minus the eyes and the mouth, on a 2-px grid.
fn head_fit_pixels(size: usize) -> Vec<usize> {
    let k = size as f32 / TEMPLATE_SIZE;
    let outline: Vec<[f32; 2]> =
        (0..=16).chain((17..=26).rev()).map(|i| [CANONICAL_68[i][0] * k, CANONICAL_68[i][1] * k]).collect();
    let excluded = |px: f32, py: f32| {
        let near = |ids: std::ops::RangeInclusive<usize>, radius: f32| {
            ids.clone().any(|i| (px - CANONICAL_68[i][0] * k).hypot(py - CANONICAL_68[i][1] * k) < radius * size as f32)
        };
        near(36..=47, 0.07) || near(48..=67, 0.08)
    };
    let mut pixels = Vec::new();
    for y in (0..size).step_by(2) {
        for x in (0..size).step_by(2) {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            if point_in_polygon(px, py, &outline) && !excluded(px, py) {
                pixels.push(y * size + x);
            }
        }
    }
    pixels
}

fn point_in_polygon(x: f32, y: f32, polygon: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MotionConfig {
    /// Motion is measured between each crop and the crop this long before it: about half the
    /// rise of a micro-expression, so onset and release both show.
    pub lag_ms: f64,
    /// What measures the flow between the two crops.
    pub flow: FlowMethod,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self { lag_ms: 100.0, flow: FlowMethod::default() }
    }
}

/// The flow estimator the motion stage uses (`--flow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowMethod {
    /// OpenCV's DIS with the settings of [`DisFlow`]. The default: `flow.onnx` and `onnx-vr`
    /// beat it on both sets' flow error (held-out face pairs and the synthetic
    /// micro-expressions), but the spotter finds micro-expressions better with DIS, which is
    /// also faster here (`models/flow.md`).
    #[default]
    Dis,
    /// The project's flow model, `models/flow.onnx`.
    Onnx,
    /// OpenCV's Farneback ([`FarnebackFlow`]), for comparison.
    Farneback,
    /// OpenCV's Dual TV-L1 with its default parameters (the MER input's flow), for comparison.
    Tvl1,
    /// `flow.onnx`, then OpenCV's variational refinement with DIS's parameters ([`RefinedFlow`]).
    #[serde(rename = "onnx-vr")]
    OnnxVr,
}

impl FlowMethod {
    pub const ALL: [FlowMethod; 5] =
        [FlowMethod::Onnx, FlowMethod::OnnxVr, FlowMethod::Dis, FlowMethod::Farneback, FlowMethod::Tvl1];
}

impl std::fmt::Display for FlowMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlowMethod::Dis => "dis",
            FlowMethod::Onnx => "onnx",
            FlowMethod::Farneback => "farneback",
            FlowMethod::Tvl1 => "tvl1",
            FlowMethod::OnnxVr => "onnx-vr",
        })
    }
}

impl std::str::FromStr for FlowMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FlowMethod::ALL
            .into_iter()
            .find(|m| m.to_string() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown flow method '{s}' (expected onnx, onnx-vr, dis, farneback or tvl1)"))
    }
}

/// The motion of one frame, relative to its reference frame `lag_ms` earlier.
#[derive(Debug, Clone)]
pub struct FrameMotion {
    pub reference_index: u64,
    pub measurement: Measurement,
}

/// Keeps the recent crops of the tracked face and measures each new crop against the one
/// `lag_ms` before it.
pub struct MotionStage {
    analyser: MotionAnalyser,
    config: MotionConfig,
    history: VecDeque<(u64, f64, Mat)>,
    face_id: Option<u32>,
}

impl MotionStage {
    pub fn new(analyser: MotionAnalyser, config: MotionConfig) -> Self {
        Self { analyser, config, history: VecDeque::new(), face_id: None }
    }

    pub fn analyser(&self) -> &MotionAnalyser {
        &self.analyser
    }

    /// Measures a frame's crop. `None` for a face seen for less than `lag_ms` so far; any gap
    /// in the face (lost, new identity) starts the history again.
    pub fn process(
        &mut self,
        index: u64,
        seconds: f64,
        face: Option<(u32, &AlignedFace)>,
    ) -> Result<Option<FrameMotion>, MotionError> {
        let Some((face_id, aligned)) = face else {
            self.history.clear();
            self.face_id = None;
            return Ok(None);
        };
        if self.face_id != Some(face_id) {
            self.history.clear();
            self.face_id = Some(face_id);
        }
        let target = seconds - self.config.lag_ms / 1000.0;
        // Half a millisecond of slack absorbs rounding in container timestamps.
        let reference = self.history.iter().rev().find(|(_, t, _)| *t <= target + 5e-4);
        let result = match reference {
            Some((reference_index, _, crop)) => {
                Some(FrameMotion { reference_index: *reference_index, measurement: self.analyser.measure(crop, &aligned.image)? })
            }
            None => None,
        };
        self.history.push_back((index, seconds, aligned.image.clone()));
        // Keep only what a future frame can still use as its reference.
        while self.history.len() > 1 && self.history[1].1 <= target + 5e-4 {
            self.history.pop_front();
        }
        Ok(result)
    }
}
