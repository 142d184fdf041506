//! The 68-point landmark model (`models/landmarks.onnx`, see `models/landmarks.md`): a grayscale
//! face crop in, 68 iBUG points in crop pixels out.
//!
//! The crop is made exactly as the training code makes it (`glimpse_train/landmarks.py`): a
//! similarity `frame -> canonical 128-px crop` (from the face box, or from the previous frame's
//! points fitted to the canonical template), then `q = (p - 64) * 128 / 160 + 64` into the
//! 128 x 128 model crop; bilinear warp with replicated borders of the grayscale frame; raw 0..255.
//! The network itself also reads the mirrored crop and averages the two answers.
//!
//! Tracking: once a face has points, the next frame's crop is built from those points moved by
//! the tracked box's shift (the Lucas-Kanade motion), not from the box: the box's scale and
//! centre wobble from frame to frame and at each re-detection, the points are a steadier
//! reference, and the crop then has the eyes level as in most training crops. The crop is
//! re-placed only when that reference has moved more than 1 crop pixel from where the crop is
//! (`GLIMPSE_LANDMARK_RECROP_PX` changes this, 0 = every frame, for measurements): on a still
//! face the crop stays put, so the points no longer feed their own noise back into the next
//! crop (still-face jitter 0.14 % -> 0.11 % of the inter-ocular distance, `models/landmarks.md`). Nothing is smoothed: every frame's points are the model's own
//! measurement on that frame's image.

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::Tensor;

use super::{Contract, InferenceError, TensorSpec, load_session};
use crate::capture::Frame;
use crate::face::template::{CANONICAL_68, TEMPLATE_SIZE};
use crate::face::{BoxF, FaceError, LandmarkDetector, Landmarks, Similarity};

/// Side of the model's input crop.
pub const LANDMARK_CROP: i32 = 128;
/// Canonical (128-px template) pixels shown across the model crop: a 16-px margin on each side.
const CANONICAL_SPAN: f32 = 160.0;
pub const LANDMARK_COUNT: usize = 68;

pub(crate) const LANDMARK_CONTRACT: Contract = Contract {
    inputs: &[TensorSpec { name: "face", shape: &[None, Some(1), Some(LANDMARK_CROP as i64), Some(LANDMARK_CROP as i64)] }],
    outputs: &[TensorSpec { name: "points", shape: &[None, Some(LANDMARK_COUNT as i64), Some(2)] }],
    one_at_a_time: false,
};

/// Points whose centre lands further than this share of the box width from the box centre are
/// not trusted as the next frame's reference (the next crop is made from the box again).
const MAX_CENTRE_DRIFT: f32 = 0.5;

/// The crop is re-made only when the face has moved this far (model-crop pixels, at the
/// crop's corners) from where the current crop was placed.
const DEFAULT_RECROP_PX: f32 = 1.0;

pub struct Landmarker {
    path: PathBuf,
    session: Session,
    /// The last frame's points and the box they were found in.
    previous: Option<(Landmarks, BoxF)>,
    /// The crop in use while the face stays where it was (frame -> model crop).
    placed: Option<Similarity>,
    recrop_px: f32,
}

impl Landmarker {
    /// Loads and checks the model. One intra-op thread: one face is a small image, and the
    /// other core is busy with the flow.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        Self::load_with_threads(path, 1)
    }

    pub fn load_with_threads(path: &Path, threads: usize) -> Result<Self, InferenceError> {
        let session = load_session(path, &LANDMARK_CONTRACT, threads)?;
        let recrop_px =
            std::env::var("GLIMPSE_LANDMARK_RECROP_PX").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RECROP_PX);
        Ok(Self { path: path.to_owned(), session, previous: None, placed: None, recrop_px })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets the previous frame's points (a new face).
    pub fn reset(&mut self) {
        self.previous = None;
        self.placed = None;
    }

    /// Canonical 128-px crop -> model crop.
    fn canonical_to_crop() -> Similarity {
        let k = LANDMARK_CROP as f32 / CANONICAL_SPAN;
        let c = LANDMARK_CROP as f32 / 2.0 - (TEMPLATE_SIZE / 2.0) * k;
        Similarity { a: k, b: 0.0, tx: c, ty: c }
    }

    /// Frame -> model crop from a face box (the first frame of a track).
    pub fn crop_transform_from_box(bbox: &BoxF) -> Similarity {
        Self::canonical_to_crop().after(&Similarity::from_box(bbox, TEMPLATE_SIZE))
    }

    /// Frame -> model crop from points (the tracking mode): their similarity to the template.
    pub fn crop_transform_from_points(points: &[[f32; 2]; 68]) -> Option<Similarity> {
        Similarity::fit(points, &CANONICAL_68).map(|fit| Self::canonical_to_crop().after(&fit))
    }

    /// The model's input for a frame: grayscale, warped, as `LANDMARK_CROP`² raw 0..255 floats.
    pub fn crop(gray: &Mat, to_crop: &Similarity) -> Result<Vec<f32>, InferenceError> {
        let cv_error = |e: opencv::Error| InferenceError::Run { path: PathBuf::from("(crop)"), reason: e.to_string() };
        let mut crop = Mat::default();
        imgproc::warp_affine(
            gray,
            &mut crop,
            &to_crop.to_mat().map_err(cv_error)?,
            Size::new(LANDMARK_CROP, LANDMARK_CROP),
            imgproc::INTER_LINEAR,
            opencv::core::BORDER_REPLICATE,
            Scalar::default(),
        )
        .map_err(cv_error)?;
        let bytes = crop.data_bytes().map_err(cv_error)?;
        Ok(bytes.iter().map(|&b| b as f32).collect())
    }

    /// Runs the network on one crop (`LANDMARK_CROP`² values, row-major): points in crop pixels.
    pub fn points(&mut self, crop: &[f32]) -> Result<[[f32; 2]; 68], InferenceError> {
        let run_error = |reason: String| InferenceError::Run { path: self.path.clone(), reason };
        let side = LANDMARK_CROP as usize;
        if crop.len() != side * side {
            return Err(run_error(format!("input has {} values, expected {}", crop.len(), side * side)));
        }
        let tensor = Tensor::from_array(([1usize, 1, side, side], crop.to_vec())).map_err(|e| run_error(e.to_string()))?;
        let outputs = self.session.run(ort::inputs!["face" => tensor]).map_err(|e| run_error(e.to_string()))?;
        let (_, values) = outputs["points"].try_extract_tensor::<f32>().map_err(|e| run_error(e.to_string()))?;
        let values = values.get(..LANDMARK_COUNT * 2).ok_or_else(|| run_error("fewer than 136 values".into()))?;
        let mut out = [[0.0; 2]; 68];
        for (point, xy) in out.iter_mut().zip(values.chunks_exact(2)) {
            *point = [xy[0], xy[1]];
        }
        Ok(out)
    }

    /// The points in frame pixels for the crop `to_crop` makes of `gray`.
    pub fn locate_with(&mut self, gray: &Mat, to_crop: &Similarity) -> Result<Landmarks, InferenceError> {
        let crop = Self::crop(gray, to_crop)?;
        let in_crop = self.points(&crop)?;
        let back = to_crop.inverse();
        Ok(Landmarks { points: in_crop.map(|p| back.apply(p)) })
    }

    /// Where the next crop comes from: the previous points carried by the box's shift when the
    /// box still follows the same face, else the box.
    /// A crop already placed is kept while the carried points would place it within
    /// `recrop_px` of where it is: on a still face the crop then does not move at all, so the
    /// points vary only with the image, not with their own previous noise.
    fn next_transform(&mut self, bbox: &BoxF) -> Similarity {
        if let Some((landmarks, previous_box)) = &self.previous
            && previous_box.iou(bbox) > 0.5
        {
            let (dx, dy) = (bbox.centre().0 - previous_box.centre().0, bbox.centre().1 - previous_box.centre().1);
            let carried = landmarks.points.map(|[x, y]| [x + dx, y + dy]);
            if let Some(wanted) = Self::crop_transform_from_points(&carried) {
                if let Some(placed) = self.placed
                    && crop_distance(&placed, &wanted) <= self.recrop_px
                {
                    return placed;
                }
                self.placed = Some(wanted);
                return wanted;
            }
        }
        self.placed = None;
        Self::crop_transform_from_box(bbox)
    }
}

/// How far apart two frame -> crop transforms place the crop: the largest distance, in crop
/// pixels, between where the crop's four corners come from under the two.
fn crop_distance(a: &Similarity, b: &Similarity) -> f32 {
    let side = LANDMARK_CROP as f32;
    let (ia, ib) = (a.inverse(), b.inverse());
    let scale = a.scale();
    [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]]
        .iter()
        .map(|&corner| {
            let (p, q) = (ia.apply(corner), ib.apply(corner));
            (p[0] - q[0]).hypot(p[1] - q[1]) * scale
        })
        .fold(0.0, f32::max)
}

impl LandmarkDetector for Landmarker {
    fn name(&self) -> &str {
        "landmarks.onnx"
    }

    fn locate(&mut self, _frame: &Frame, gray: &Mat, face: &BoxF) -> Result<Landmarks, FaceError> {
        let transform = self.next_transform(face);
        let landmarks = self.locate_with(gray, &transform).map_err(|e| FaceError::Landmarks(e.to_string()))?;
        let n = LANDMARK_COUNT as f32;
        let centre = landmarks.points.iter().fold([0.0, 0.0], |acc, p| [acc[0] + p[0] / n, acc[1] + p[1] / n]);
        let (cx, cy) = face.centre();
        let plausible = (centre[0] - cx).hypot(centre[1] - cy) < MAX_CENTRE_DRIFT * face.width;
        self.previous = plausible.then(|| (landmarks.clone(), *face));
        Ok(landmarks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_from_points_and_from_box_put_the_face_where_training_did() {
        // A face whose points are the template moved by a known similarity.
        let face = Similarity { a: 1.7, b: 0.2, tx: 40.0, ty: 25.0 };
        let points = CANONICAL_68.map(|p| face.apply(p));
        let to_crop = Landmarker::crop_transform_from_points(&points).unwrap();
        // ... lands on the template in model-crop pixels: (p - 64) * 128 / 160 + 64.
        for (p, t) in points.iter().zip(CANONICAL_68) {
            let q = to_crop.apply(*p);
            let want = [(t[0] - 64.0) * 0.8 + 64.0, (t[1] - 64.0) * 0.8 + 64.0];
            assert!((q[0] - want[0]).abs() < 1e-3 && (q[1] - want[1]).abs() < 1e-3, "{q:?} vs {want:?}");
        }
        // A box puts its calibrated centre (HAAR_OFFSET in the template) at the same place.
        let bbox = BoxF { x: 100.0, y: 50.0, width: 80.0, height: 80.0 };
        let q = Landmarker::crop_transform_from_box(&bbox).apply([140.0, 90.0]);
        let offset = crate::face::template::HAAR_OFFSET;
        assert!((q[0] - ((offset[0] - 64.0) * 0.8 + 64.0)).abs() < 1e-3);
        assert!((q[1] - ((offset[1] - 64.0) * 0.8 + 64.0)).abs() < 1e-3);
    }

    #[test]
    fn crop_distance_measures_corner_displacement_in_crop_pixels() {
        let a = Landmarker::crop_transform_from_box(&BoxF { x: 100.0, y: 50.0, width: 80.0, height: 80.0 });
        assert_eq!(crop_distance(&a, &a), 0.0);
        let shifted = Similarity { tx: a.tx + 2.0, ..a };
        assert!((crop_distance(&a, &shifted) - 2.0).abs() < 1e-3);
    }
}
