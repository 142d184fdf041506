//! Face regions in the canonical crop, and the motion measured in each.
//!
//! Regions are discs around canonical landmark positions; because alignment maps the face onto
//! the canonical template, the same masks serve every frame. Sides are the subject's: `brow_r`
//! is the subject's right brow, on the image's left.

use crate::face::template::{CANONICAL_68, TEMPLATE_SIZE};

use super::MotionField;

/// The regions, in column order; a region's discriminant is its index in [`Region::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    BrowR,
    BrowL,
    EyeR,
    EyeL,
    Nose,
    MouthR,
    MouthL,
    Chin,
}

impl Region {
    pub const ALL: [Region; 8] =
        [Region::BrowR, Region::BrowL, Region::EyeR, Region::EyeL, Region::Nose, Region::MouthR, Region::MouthL, Region::Chin];

    pub fn name(self) -> &'static str {
        match self {
            Region::BrowR => "brow_r",
            Region::BrowL => "brow_l",
            Region::EyeR => "eye_r",
            Region::EyeL => "eye_l",
            Region::Nose => "nose",
            Region::MouthR => "mouth_r",
            Region::MouthL => "mouth_l",
            Region::Chin => "chin",
        }
    }

    /// Landmarks whose neighbourhoods make up the region, and the disc radius as a fraction of
    /// the crop side.
    fn anchors(self) -> (Vec<[f32; 2]>, f32) {
        let points = |ids: &[usize]| ids.iter().map(|&i| CANONICAL_68[i]).collect::<Vec<_>>();
        let lerp = |a: usize, b: usize, t: f32| {
            let (p, q) = (CANONICAL_68[a], CANONICAL_68[b]);
            [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
        };
        match self {
            Region::BrowR => (points(&[17, 18, 19, 20, 21]), 0.045),
            Region::BrowL => (points(&[22, 23, 24, 25, 26]), 0.045),
            Region::EyeR => (points(&[36, 37, 38, 39, 40, 41]), 0.035),
            Region::EyeL => (points(&[42, 43, 44, 45, 46, 47]), 0.035),
            Region::Nose => (points(&[29, 30, 31, 32, 33, 34, 35]), 0.04),
            Region::MouthR => (vec![CANONICAL_68[48], lerp(48, 4, 0.35)], 0.06),
            Region::MouthL => (vec![CANONICAL_68[54], lerp(54, 12, 0.35)], 0.06),
            Region::Chin => (vec![lerp(57, 8, 0.5), lerp(58, 7, 0.5), lerp(56, 9, 0.5)], 0.05),
        }
    }
}

/// Pixel lists of each region for one crop size.
#[derive(Debug, Clone)]
pub struct RegionMasks {
    size: usize,
    pixels: Vec<Vec<usize>>,
}

impl RegionMasks {
    pub fn new(size: usize) -> Self {
        let k = size as f32 / TEMPLATE_SIZE;
        let pixels = Region::ALL
            .iter()
            .map(|region| {
                let (anchors, radius) = region.anchors();
                let r = radius * size as f32;
                let mut inside = Vec::new();
                for y in 0..size {
                    for x in 0..size {
                        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                        if anchors.iter().any(|a| (px - a[0] * k).hypot(py - a[1] * k) <= r) {
                            inside.push(y * size + x);
                        }
                    }
                }
                inside
            })
            .collect();
        Self { size, pixels }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn pixels(&self, region: Region) -> &[usize] {
        &self.pixels[region as usize]
    }

    /// Mean motion of each region of `field` (which must be `size` x `size`).
    pub fn measure(&self, field: &MotionField) -> RegionSignals {
        let mut signals = RegionSignals::default();
        for (slot, pixels) in signals.values.iter_mut().zip(&self.pixels) {
            if pixels.is_empty() {
                continue;
            }
            let n = pixels.len() as f32;
            let (mut magnitude, mut du, mut dv) = (0.0, 0.0, 0.0);
            for &i in pixels {
                let (u, v) = (field.u[i], field.v[i]);
                magnitude += u.hypot(v);
                du += u;
                dv += v;
            }
            *slot = RegionMotion { magnitude: magnitude / n, mean_u: du / n, mean_v: dv / n };
        }
        signals
    }
}

/// Motion in one region, in crop pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RegionMotion {
    /// Mean length of the flow vectors.
    pub magnitude: f32,
    /// Mean vector (direction of the region's movement; +v is down).
    pub mean_u: f32,
    pub mean_v: f32,
}

/// One [`RegionMotion`] per [`Region::ALL`] entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RegionSignals {
    pub values: [RegionMotion; 8],
}

impl RegionSignals {
    pub fn get(&self, region: Region) -> RegionMotion {
        self.values[region as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_disjoint_enough_and_non_empty() {
        let masks = RegionMasks::new(128);
        for region in Region::ALL {
            assert!(masks.pixels(region).len() > 30, "{} has {} px", region.name(), masks.pixels(region).len());
        }
        let overlap = masks.pixels(Region::BrowR).iter().filter(|p| masks.pixels(Region::EyeR).contains(p)).count();
        assert_eq!(overlap, 0, "brow and eye regions must not share pixels");
        // Subject's right is the image's left.
        let mean_x = |r| masks.pixels(r).iter().map(|p| (p % 128) as f32).sum::<f32>() / masks.pixels(r).len() as f32;
        assert!(mean_x(Region::MouthR) < 64.0 && mean_x(Region::MouthL) > 64.0);
    }

    #[test]
    fn all_lists_regions_in_discriminant_order() {
        for (index, region) in Region::ALL.iter().enumerate() {
            assert_eq!(*region as usize, index);
        }
    }

    #[test]
    fn measure_averages_the_region() {
        let masks = RegionMasks::new(64);
        let mut field = MotionField::zeros(64, 64);
        for &i in masks.pixels(Region::Nose) {
            field.u[i] = 3.0;
            field.v[i] = -4.0;
        }
        let signals = masks.measure(&field);
        let nose = signals.get(Region::Nose);
        assert!((nose.magnitude - 5.0).abs() < 1e-5 && (nose.mean_u - 3.0).abs() < 1e-5);
        assert_eq!(signals.get(Region::BrowL).magnitude, 0.0);
    }
}
