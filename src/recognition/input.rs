//! The MER input: Dual TV-L1 flow from onset to apex, optical strain, an exact area resize to
//! 28 x 28, each channel min-max scaled to 0..255, stacked (strain, v, u) as the training PNGs
//! are read in OpenCV's BGR order. Mirrors `models/training/glimpse_train/preprocess.py`, which
//! the tests compare against on a fixed pair.

use opencv::core::{Mat, Ptr, Rect};
use opencv::optflow::DualTVL1OpticalFlow;
use opencv::prelude::*;

use super::RecognitionError;
use crate::face::eye_centres;
use crate::face::template::{CANONICAL_68, TEMPLATE_SIZE};
use crate::motion::{FlowEstimator, MotionError, MotionField};

/// Side of the MER input image.
pub const MER_SIZE: usize = 28;

/// Where the MER training images have the eye centres, as shares of their side: 25 % and 75 % of
/// the width, 19.5 % of the height (measured on the MEGC2019 flow images, `models/mer.md`).
pub const MER_EYE_X: [f64; 2] = [0.25, 0.75];
pub const MER_EYE_Y: f64 = 0.195;

/// The square window of a canonical face crop (`face::template`, `crop_size` px) framed as the
/// MER training images are: the eyes where `MER_EYE_X` / `MER_EYE_Y` put them. The canonical
/// crop shows more of the face (its eyes sit at a third of the height), so the window is about
/// the middle two thirds of it (x 23, y 26, side 82 at 128 px). As `mer_window` in
/// `glimpse_train/preprocess.py`.
pub fn mer_window(crop_size: i32) -> Rect {
    let scale = crop_size as f64 / TEMPLATE_SIZE as f64;
    let (subject_right, subject_left) = eye_centres(&CANONICAL_68); // on the image's left and right
    let px = |p: [f32; 2]| (p[0] as f64 * scale, p[1] as f64 * scale);
    let (left, right) = (px(subject_right), px(subject_left));
    let eye_distance = ((right.0 - left.0).powi(2) + (right.1 - left.1).powi(2)).sqrt();
    let side = eye_distance / (MER_EYE_X[1] - MER_EYE_X[0]);
    let (mid_x, mid_y) = ((left.0 + right.0) / 2.0, (left.1 + right.1) / 2.0);
    let side_px = (side.round() as i32).clamp(MER_SIZE as i32, crop_size);
    let x0 = ((mid_x - side * (MER_EYE_X[0] + MER_EYE_X[1]) / 2.0).round() as i32).clamp(0, crop_size - side_px);
    let y0 = ((mid_y - side * MER_EYE_Y).round() as i32).clamp(0, crop_size - side_px);
    Rect::new(x0, y0, side_px, side_px)
}

/// OpenCV's Dual TV-L1 with its default parameters written out (as the training data used).
pub struct TvL1Flow {
    tvl1: Ptr<DualTVL1OpticalFlow>,
}

impl TvL1Flow {
    pub fn new() -> Result<Self, MotionError> {
        let tvl1 = DualTVL1OpticalFlow::create(0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 0.8, 0.0, 5, false)?;
        Ok(Self { tvl1 })
    }
}

impl FlowEstimator for TvL1Flow {
    fn name(&self) -> &str {
        "tvl1"
    }

    fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
        let mut flow = Mat::default();
        self.tvl1.calc(previous, current, &mut flow)?;
        MotionField::from_mat(&flow)
    }
}

/// `sqrt(ux^2 + vy^2 + (uy + vx)^2 / 2)` with central differences inside and one-sided ones at
/// the borders (numpy.gradient's rule).
pub fn optical_strain(field: &MotionField) -> Vec<f64> {
    let (w, h) = (field.width, field.height);
    let at = |values: &[f32], x: usize, y: usize| values[y * w + x] as f64;
    let d = |values: &[f32], x: usize, y: usize, along_x: bool| -> f64 {
        let (i, n) = if along_x { (x, w) } else { (y, h) };
        let get = |k: usize| if along_x { at(values, k, y) } else { at(values, x, k) };
        if n < 2 {
            0.0
        } else if i == 0 {
            get(1) - get(0)
        } else if i == n - 1 {
            get(n - 1) - get(n - 2)
        } else {
            (get(i + 1) - get(i - 1)) / 2.0
        }
    };
    let mut strain = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (ux, uy) = (d(&field.u, x, y, true), d(&field.u, x, y, false));
            let (vx, vy) = (d(&field.v, x, y, true), d(&field.v, x, y, false));
            strain.push((ux * ux + vy * vy + 0.5 * (uy + vx) * (uy + vx)).sqrt());
        }
    }
    strain
}

/// Box-filter weights taking `n_in` samples to `n_out`: output `i` averages the input interval
/// `[i s, (i + 1) s)`, `s = n_in / n_out`, each input weighted by its overlap (OpenCV's
/// INTER_AREA when downscaling).
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f64)>> {
    let s = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|i| {
            let (a, b) = (i as f64 * s, (i + 1) as f64 * s);
            (a.floor() as usize..(b.ceil() as usize).min(n_in))
                .filter_map(|k| {
                    let overlap = b.min(k as f64 + 1.0) - a.max(k as f64);
                    (overlap > 0.0).then_some((k, overlap / s))
                })
                .collect()
        })
        .collect()
}

/// Exact area resize of a `width` x `height` grid to `size` x `size`.
pub fn area_resize(values: &[f64], width: usize, height: usize, size: usize) -> Vec<f64> {
    let (wy, wx) = (area_weights(height, size), area_weights(width, size));
    let mut rows = vec![0.0; size * width];
    for (i, weights) in wy.iter().enumerate() {
        for &(k, weight) in weights {
            for x in 0..width {
                rows[i * width + x] += weight * values[k * width + x];
            }
        }
    }
    let mut out = vec![0.0; size * size];
    for i in 0..size {
        for (j, weights) in wx.iter().enumerate() {
            out[i * size + j] = weights.iter().map(|&(k, weight)| weight * rows[i * width + k]).sum();
        }
    }
    out
}

/// Scales to 0..255 by the channel's own minimum and maximum (all zeros when flat).
pub fn minmax_255(values: &[f64]) -> Vec<f64> {
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi - lo <= 0.0 {
        return vec![0.0; values.len()];
    }
    values.iter().map(|v| (v - lo) / (hi - lo) * 255.0).collect()
}

/// A flow field -> the `[3][28][28]` MER input (strain, v, u), channel-major.
pub fn flow_to_mer_input(field: &MotionField) -> Result<Vec<f32>, RecognitionError> {
    let (w, h) = (field.width, field.height);
    if w < MER_SIZE || h < MER_SIZE {
        return Err(RecognitionError::CropTooSmall { min: MER_SIZE, width: w, height: h });
    }
    let strain = optical_strain(field);
    let u: Vec<f64> = field.u.iter().map(|&x| x as f64).collect();
    let v: Vec<f64> = field.v.iter().map(|&x| x as f64).collect();
    let mut input = Vec::with_capacity(3 * MER_SIZE * MER_SIZE);
    for channel in [&strain, &v, &u] {
        input.extend(minmax_255(&area_resize(channel, w, h, MER_SIZE)).into_iter().map(|x| x as f32));
    }
    Ok(input)
}

fn same_size(onset: &Mat, apex: &Mat) -> Result<(), RecognitionError> {
    if onset.size()? != apex.size()? {
        return Err(RecognitionError::SizeMismatch(onset.cols(), onset.rows(), apex.cols(), apex.rows()));
    }
    Ok(())
}

/// Onset and apex aligned grayscale crops, already framed as the training images -> the MER input.
pub fn mer_input(flow: &mut TvL1Flow, onset: &Mat, apex: &Mat) -> Result<Vec<f32>, RecognitionError> {
    same_size(onset, apex)?;
    flow_to_mer_input(&flow.estimate(onset, apex)?)
}

/// The pipeline's canonical onset and apex crops -> the MER input: both cut to `mer_window`
/// first, so that the flow covers the part of the face the training images showed.
pub fn canonical_mer_input(flow: &mut TvL1Flow, onset: &Mat, apex: &Mat) -> Result<Vec<f32>, RecognitionError> {
    same_size(onset, apex)?; // before the window: one cut from the onset's size must fit the apex
    if onset.cols() != onset.rows() {
        return Err(RecognitionError::NotSquare(onset.cols(), onset.rows()));
    }
    let window = mer_window(onset.cols());
    let (onset, apex) = (Mat::roi(onset, window)?.try_clone()?, Mat::roi(apex, window)?.try_clone()?);
    mer_input(flow, &onset, &apex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_averages_blocks_and_keeps_the_mean() {
        let values: Vec<f64> = (0..56 * 56).map(|i| (i % 56) as f64).collect();
        let out = area_resize(&values, 56, 56, 28);
        assert!((out[0] - 0.5).abs() < 1e-12 && (out[27] - 54.5).abs() < 1e-12);
        let odd: Vec<f64> = (0..100 * 70).map(|i| ((i * 7919) % 13) as f64).collect();
        let resized = area_resize(&odd, 100, 70, 28);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean(&odd) - mean(&resized)).abs() < 1e-9);
    }

    #[test]
    fn strain_of_a_uniform_stretch() {
        // u = x / 8: ux = 1/8 everywhere, nothing else (binary fractions, so no rounding noise
        // that the per-channel min-max would blow up).
        let mut field = MotionField::zeros(56, 56);
        for y in 0..56 {
            for x in 0..56 {
                field.u[y * 56 + x] = 0.125 * x as f32;
            }
        }
        assert!(optical_strain(&field).iter().all(|s| (s - 0.125).abs() < 1e-12));
        let input = flow_to_mer_input(&field).unwrap();
        assert_eq!(input.len(), 3 * 28 * 28);
        assert!(input[..784].iter().all(|&s| s == 0.0), "flat strain scales to zeros");
        assert!(input[784..1568].iter().all(|&v| v == 0.0), "no vertical motion");
        assert_eq!(input[1568 + 27], 255.0);
        assert_eq!(input[1568], 0.0);
    }

    #[test]
    fn the_mer_window_frames_the_canonical_eyes_as_the_training_images() {
        assert_eq!(mer_window(128), Rect::new(23, 26, 82, 82));
        let w = mer_window(256);
        assert_eq!((w.x, w.y, w.width), (46, 53, 164));
        let small = mer_window(40);
        assert!(small.width >= MER_SIZE as i32 && small.x + small.width <= 40 && small.y + small.height <= 40);
    }

    #[test]
    fn canonical_crops_are_cut_to_the_window_before_the_flow() {
        use opencv::core::{CV_8UC1, Scalar};
        let pattern = |shift: f64| {
            let mut m = Mat::new_rows_cols_with_default(128, 128, CV_8UC1, Scalar::all(0.0)).unwrap();
            for y in 0..128 {
                for x in 0..128 {
                    let v = 128.0 + 60.0 * ((x as f64 - shift) * 0.21).sin() * (y as f64 * 0.17).cos();
                    *m.at_2d_mut::<u8>(y, x).unwrap() = v as u8;
                }
            }
            m
        };
        let (onset, apex) = (pattern(0.0), pattern(0.7));
        let mut tvl1 = TvL1Flow::new().unwrap();
        let framed = canonical_mer_input(&mut tvl1, &onset, &apex).unwrap();
        let w = mer_window(128);
        let cut = |m: &Mat| Mat::roi(m, w).unwrap().try_clone().unwrap();
        assert_eq!(framed, mer_input(&mut tvl1, &cut(&onset), &cut(&apex)).unwrap());
        let wide = Mat::new_rows_cols_with_default(128, 160, CV_8UC1, Scalar::all(0.0)).unwrap();
        assert!(matches!(canonical_mer_input(&mut tvl1, &wide, &wide), Err(RecognitionError::NotSquare(160, 128))));
    }

    #[test]
    fn too_small_a_crop_is_refused() {
        assert!(flow_to_mer_input(&MotionField::zeros(20, 40)).is_err());
    }
}
