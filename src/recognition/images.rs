//! The seed papers' pictures of an event's motion, as RGB images for the window and the review:
//! flow in colour, combined optical flow (COF), magnitude-modulated COF (MM-COF) and dual-phase
//! dynamic images (DI).
//!
//! - Flow colour: hue = direction, brightness = magnitude / `scale` (saturating), so the same
//!   scale makes two pictures comparable.
//! - COF: the onset->apex flow and the reversed apex->offset flow averaged,
//!   `(F(onset->apex) - F(apex->offset)) / 2`: both phases of the movement point the same way,
//!   so the release counts as evidence and what is not the expression cancels.
//! - MM-COF: COF with each vector scaled by its magnitude relative to the largest (FMANet's
//!   magnitude modulation), which leaves the strongest motion and fades the rest.
//! - Dynamic image: approximate rank pooling of the frames `I_1..I_T`, `sum (2t - T - 1) I_t`,
//!   min-max scaled to 0..255; one for onset..apex, one for apex..offset.

use opencv::core::Mat;
use opencv::prelude::*;

use crate::motion::MotionField;

/// An 8-bit RGB picture, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// From an 8-bit single-channel OpenCV image (a face crop).
    pub fn from_gray_mat(gray: &Mat) -> Result<Self, opencv::Error> {
        let (width, height) = (gray.cols() as usize, gray.rows() as usize);
        let mut pixels = Vec::with_capacity(width * height * 3);
        for y in 0..height as i32 {
            for &value in gray.at_row::<u8>(y)?.iter().take(width) {
                pixels.extend([value, value, value]);
            }
        }
        Ok(Self { width, height, pixels })
    }

    fn from_gray_values(width: usize, height: usize, values: &[f64]) -> Self {
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let pixels = values.iter().flat_map(|&v| [((v - lo) / span * 255.0).round() as u8; 3]).collect();
        Self { width, height, pixels }
    }
}

/// Magnitude that maps to full brightness: the 99th percentile of the field, at least
/// `min_scale` (so that noise on a still face stays dark).
pub fn colour_scale(field: &MotionField, min_scale: f32) -> f32 {
    let mut magnitudes: Vec<f32> = field.u.iter().zip(&field.v).map(|(u, v)| u.hypot(*v)).collect();
    if magnitudes.is_empty() {
        return min_scale;
    }
    let k = ((magnitudes.len() - 1) as f32 * 0.99) as usize;
    let (_, p99, _) = magnitudes.select_nth_unstable_by(k, f32::total_cmp);
    p99.max(min_scale)
}

/// Hue = direction, value = magnitude / `scale`.
pub fn flow_colour(field: &MotionField, scale: f32) -> RgbImage {
    let mut pixels = Vec::with_capacity(field.u.len() * 3);
    for (&u, &v) in field.u.iter().zip(&field.v) {
        let value = (u.hypot(v) / scale.max(1e-6)).min(1.0);
        let hue = (v.atan2(u).to_degrees() + 360.0) % 360.0;
        pixels.extend(hsv_to_rgb(hue, 1.0, value));
    }
    RgbImage { width: field.width, height: field.height, pixels }
}

/// `hue` in degrees, `saturation` and `value` in 0..1.
pub fn hsv_to_rgb(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let c = value * saturation;
    let h = (hue.rem_euclid(360.0)) / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    [r, g, b].map(|channel| ((channel + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

/// `(rise - fall) / 2` for flows onset->apex and apex->offset of the same size.
pub fn combined_flow(rise: &MotionField, fall: &MotionField) -> MotionField {
    let mut out = MotionField::zeros(rise.width, rise.height);
    for i in 0..rise.u.len().min(fall.u.len()) {
        out.u[i] = (rise.u[i] - fall.u[i]) / 2.0;
        out.v[i] = (rise.v[i] - fall.v[i]) / 2.0;
    }
    out
}

/// Each vector scaled by its magnitude over the field's largest magnitude.
pub fn magnitude_modulated(field: &MotionField) -> MotionField {
    let largest = field.u.iter().zip(&field.v).map(|(u, v)| u.hypot(*v)).fold(0.0f32, f32::max);
    let mut out = field.clone();
    if largest > 0.0 {
        for (u, v) in out.u.iter_mut().zip(out.v.iter_mut()) {
            let weight = u.hypot(*v) / largest;
            *u *= weight;
            *v *= weight;
        }
    }
    out
}

/// Approximate rank pooling of 8-bit grayscale frames of one size, min-max scaled to a gray
/// picture. `None` for fewer than two frames (a single frame has no order to pool).
pub fn dynamic_image(frames: &[&Mat]) -> Result<Option<RgbImage>, opencv::Error> {
    let count = frames.len();
    let Some(first) = frames.first() else { return Ok(None) };
    if count < 2 {
        return Ok(None);
    }
    let (width, height) = (first.cols() as usize, first.rows() as usize);
    let mut pooled = vec![0.0f64; width * height];
    for (t, frame) in frames.iter().enumerate() {
        if frame.cols() as usize != width || frame.rows() as usize != height {
            return Err(opencv::Error::new(opencv::core::StsUnmatchedSizes, "dynamic image frames differ in size"));
        }
        let alpha = 2.0 * (t + 1) as f64 - count as f64 - 1.0;
        for y in 0..height {
            let row = frame.at_row::<u8>(y as i32)?;
            for (x, &value) in row.iter().take(width).enumerate() {
                pooled[y * width + x] += alpha * value as f64;
            }
        }
    }
    Ok(Some(RgbImage::from_gray_values(width, height, &pooled)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{CV_8UC1, Scalar};

    #[test]
    fn hsv_primaries() {
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv_to_rgb(120.0, 1.0, 1.0), [0, 255, 0]);
        assert_eq!(hsv_to_rgb(240.0, 1.0, 1.0), [0, 0, 255]);
        assert_eq!(hsv_to_rgb(77.0, 1.0, 0.0), [0, 0, 0]);
    }

    #[test]
    fn combined_flow_adds_the_release_reversed() {
        let mut rise = MotionField::zeros(2, 1);
        let mut fall = MotionField::zeros(2, 1);
        rise.u = vec![1.0, 0.5];
        fall.u = vec![-1.0, 0.5];
        let cof = combined_flow(&rise, &fall);
        assert_eq!(cof.u, vec![1.0, 0.0]);
        let mm = magnitude_modulated(&rise);
        assert_eq!(mm.u, vec![1.0, 0.25]);
    }

    #[test]
    fn dynamic_image_of_a_brightening_pixel() {
        // Three frames; pixel 0 brightens over time, pixel 1 stays: the pooled image is bright
        // where things got brighter.
        let frames: Vec<Mat> = [10.0, 20.0, 30.0]
            .iter()
            .map(|&v| {
                let mut m = Mat::new_rows_cols_with_default(1, 2, CV_8UC1, Scalar::all(50.0)).unwrap();
                *m.at_2d_mut::<u8>(0, 0).unwrap() = v as u8;
                m
            })
            .collect();
        let refs: Vec<&Mat> = frames.iter().collect();
        let image = dynamic_image(&refs).unwrap().unwrap();
        assert_eq!(image.pixels[0], 255);
        assert_eq!(image.pixels[3], 0);
        assert!(dynamic_image(&refs[..1]).unwrap().is_none());
    }
}
