//! The canonical face: where the 68 iBUG landmarks sit in a 128 x 128 aligned crop, and where a
//! Haar face box sits relative to them.
//!
//! Derived by `scripts/derive_template.py` from the 300-W training labels
//! (`../shared/data/landmarks/300w`): the generalised-Procrustes mean of 1,537 shapes, eyes
//! levelled, scaled so the eye centres are 0.32 x 128 px apart with their midpoint at
//! (64, 0.33 x 128). Only these averages are kept, no image or label.

/// Side of the canonical crop the template is expressed in.
pub const TEMPLATE_SIZE: f32 = 128.0;

/// The mean 68-point shape in canonical crop pixels (iBUG order: jaw 0-16, brows 17-26, nose
/// 27-35, eyes 36-47, mouth 48-67; "right"/"left" are the subject's, so 36-41 is the eye on the
/// image's left).
pub const CANONICAL_68: [[f32; 2]; 68] = [
    [17.15, 42.97],
    [17.45, 55.33],
    [18.79, 67.65],
    [21.36, 79.68],
    [26.20, 90.84],
    [33.83, 100.54],
    [43.12, 108.50],
    [53.21, 114.78],
    [64.44, 116.47],
    [75.48, 114.38],
    [85.24, 107.97],
    [94.27, 100.11],
    [101.66, 90.58],
    [106.52, 79.50],
    [109.13, 67.62],
    [110.49, 55.50],
    [111.15, 43.19],
    [25.71, 34.11],
    [31.55, 28.65],
    [39.80, 26.95],
    [48.41, 28.08],
    [56.27, 31.04],
    [71.65, 30.56],
    [79.97, 27.79],
    [88.44, 26.88],
    [96.53, 28.90],
    [101.95, 34.32],
    [64.19, 40.86],
    [64.19, 48.79],
    [64.22, 56.57],
    [64.29, 64.60],
    [54.31, 70.27],
    [59.12, 71.94],
    [64.11, 73.29],
    [69.04, 71.93],
    [73.43, 70.41],
    [35.26, 42.28],
    [40.55, 39.37],
    [46.70, 39.57],
    [51.89, 43.45],
    [46.46, 44.39],
    [40.26, 44.39],
    [75.83, 43.44],
    [81.40, 39.40],
    [87.49, 39.48],
    [92.47, 42.34],
    [87.88, 44.32],
    [81.82, 44.46],
    [45.71, 84.99],
    [52.61, 82.15],
    [59.46, 80.79],
    [63.81, 81.97],
    [68.70, 80.86],
    [75.57, 82.38],
    [82.05, 84.95],
    [75.69, 91.41],
    [69.08, 94.31],
    [63.87, 94.88],
    [59.07, 94.36],
    [52.35, 91.50],
    [48.52, 85.29],
    [59.39, 84.67],
    [63.82, 85.19],
    [68.74, 84.67],
    [79.26, 85.30],
    [68.79, 88.37],
    [63.80, 88.99],
    [59.27, 88.45],
];

/// Haar `frontalface_default` box -> crop: `crop = HAAR_SCALE * (p - box_centre) / box_width +
/// HAAR_OFFSET`, fitted (least squares) on the 1,436 300-W faces the cascade finds. Box-only
/// alignment leaves a median 6.9 px (p90 11.4 px) mean landmark error in the crop, which is why
/// the landmark model takes over alignment when it is available.
pub const HAAR_SCALE: f32 = 112.08;
pub const HAAR_OFFSET: [f32; 2] = [63.44, 54.62];
