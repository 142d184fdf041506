//! Alignment: a similarity transform from frame pixels to the canonical face crop, from the
//! landmarks when there are some, else from the tracked face box.

use opencv::core::{Mat, Scalar, Size};
use opencv::imgproc;

use super::template::{CANONICAL_68, HAAR_OFFSET, HAAR_SCALE, TEMPLATE_SIZE};
use super::{AlignBy, BoxF, FaceError, FaceTrack};

/// `p -> [a -b; b a] p + t`: rotation, uniform scale and translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Self = Self { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };

    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    pub fn angle_degrees(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }

    pub fn inverse(&self) -> Self {
        let det = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / det, -self.b / det);
        Self { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// Least-squares similarity taking `from` onto `to` (Umeyama, no reflection).
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Self> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |points: &[[f32; 2]]| {
            let (sx, sy) = points[..n].iter().fold((0.0f64, 0.0f64), |(sx, sy), p| (sx + p[0] as f64, sy + p[1] as f64));
            [sx / n as f64, sy / n as f64]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in from[..n].iter().zip(&to[..n]) {
            let (px, py) = (p[0] as f64 - mf[0], p[1] as f64 - mf[1]);
            let (qx, qy) = (q[0] as f64 - mt[0], q[1] as f64 - mt[1]);
            dot += px * qx + py * qy;
            cross += px * qy - py * qx;
            norm += px * px + py * py;
        }
        if norm <= f64::EPSILON {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Self {
            a: a as f32,
            b: b as f32,
            tx: (mt[0] - (a * mf[0] - b * mf[1])) as f32,
            ty: (mt[1] - (b * mf[0] + a * mf[1])) as f32,
        })
    }

    /// Frame -> a `size`-px canonical crop from a face box alone (no roll correction): the Haar
    /// box calibration of `template.rs`, scaled from its 128-px template to `size`.
    pub fn from_box(bbox: &BoxF, size: f32) -> Self {
        let k = size / TEMPLATE_SIZE;
        let scale = k * HAAR_SCALE / bbox.width.max(1.0);
        let (cx, cy) = bbox.centre();
        Self { a: scale, b: 0.0, tx: k * HAAR_OFFSET[0] - scale * cx, ty: k * HAAR_OFFSET[1] - scale * cy }
    }

    /// `self` after `first`: the map `p -> self(first(p))`.
    pub fn after(&self, first: &Similarity) -> Self {
        Self {
            a: self.a * first.a - self.b * first.b,
            b: self.b * first.a + self.a * first.b,
            tx: self.a * first.tx - self.b * first.ty + self.tx,
            ty: self.b * first.tx + self.a * first.ty + self.ty,
        }
    }

    /// The 2 x 3 matrix `warpAffine` takes.
    pub fn to_mat(&self) -> Result<Mat, opencv::Error> {
        Mat::from_slice_2d(&[[self.a as f64, -self.b as f64, self.tx as f64], [self.b as f64, self.a as f64, self.ty as f64]])
    }
}

/// The face cut out of a frame and warped into the canonical crop.
pub struct AlignedFace {
    /// Grayscale, `size` x `size`, CV_8UC1.
    pub image: Mat,
    pub size: i32,
    /// Frame pixels -> crop pixels.
    pub to_crop: Similarity,
    /// Whether the transform came from landmarks (true) or from the face box.
    pub from_landmarks: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Aligner {
    size: i32,
    by: AlignBy,
}

impl Aligner {
    /// Aligns by the box; see [`Aligner::aligned_by`].
    pub fn new(size: i32) -> Self {
        Self { size: size.max(16), by: AlignBy::Box }
    }

    pub fn aligned_by(self, by: AlignBy) -> Self {
        Self { by, ..self }
    }

    pub fn size(&self) -> i32 {
        self.size
    }

    /// The canonical landmark positions in this aligner's crop.
    pub fn template(&self) -> [[f32; 2]; 68] {
        let k = self.size as f32 / TEMPLATE_SIZE;
        CANONICAL_68.map(|[x, y]| [x * k, y * k])
    }

    /// Frame -> crop for a tracked face.
    pub fn transform(&self, track: &FaceTrack) -> Similarity {
        if self.by == AlignBy::Landmarks
            && let Some(landmarks) = &track.landmarks
            && let Some(fit) = Similarity::fit(&landmarks.points, &self.template())
        {
            return fit;
        }
        Similarity::from_box(&track.bbox, self.size as f32)
    }

    pub fn align(&self, gray_frame: &Mat, track: &FaceTrack) -> Result<AlignedFace, FaceError> {
        let to_crop = self.transform(track);
        let mut image = Mat::default();
        imgproc::warp_affine(
            gray_frame,
            &mut image,
            &to_crop.to_mat()?,
            Size::new(self.size, self.size),
            imgproc::INTER_LINEAR,
            opencv::core::BORDER_REPLICATE,
            Scalar::default(),
        )?;
        let from_landmarks = self.by == AlignBy::Landmarks && track.landmarks.is_some();
        Ok(AlignedFace { image, size: self.size, to_crop, from_landmarks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity { a: 0.9, b: 0.2, tx: 5.0, ty: -3.0 };
        let from: Vec<[f32; 2]> = CANONICAL_68.to_vec();
        let to: Vec<[f32; 2]> = from.iter().map(|&p| truth.apply(p)).collect();
        let fit = Similarity::fit(&from, &to).unwrap();
        for (got, want) in [(fit.a, truth.a), (fit.b, truth.b), (fit.tx, truth.tx), (fit.ty, truth.ty)] {
            assert!((got - want).abs() < 1e-3, "{fit:?}");
        }
        let back = fit.inverse().apply(fit.apply([10.0, 20.0]));
        let composed = fit.after(&truth).apply([3.0, -7.0]);
        let stepwise = fit.apply(truth.apply([3.0, -7.0]));
        assert!((composed[0] - stepwise[0]).abs() < 1e-3 && (composed[1] - stepwise[1]).abs() < 1e-3);
        assert!((back[0] - 10.0).abs() < 1e-3 && (back[1] - 20.0).abs() < 1e-3);
    }

    #[test]
    fn alignment_follows_the_box_unless_asked_to_follow_the_landmarks() {
        let bbox = BoxF { x: 200.0, y: 100.0, width: 180.0, height: 180.0 };
        // Landmarks of a face twice as far to the right as the box says.
        let points = CANONICAL_68.map(|[x, y]| [x * 1.5 + 400.0, y * 1.5 + 90.0]);
        let track =
            FaceTrack { id: 1, bbox, landmarks: Some(crate::face::Landmarks { points }), confidence: 1.0, detected: true };
        let by_box = Aligner::new(128).transform(&track);
        assert_eq!(by_box, Similarity::from_box(&bbox, 128.0));
        let by_points = Aligner::new(128).aligned_by(AlignBy::Landmarks).transform(&track);
        let nose = by_points.apply(points[30]);
        let template = Aligner::new(128).template()[30];
        assert!((nose[0] - template[0]).abs() < 1e-2 && (nose[1] - template[1]).abs() < 1e-2, "{nose:?}");
    }

    #[test]
    fn template_eyes_are_level_and_centred() {
        let eye = |range: std::ops::Range<usize>| {
            let n = range.len() as f32;
            range.fold([0.0, 0.0], |acc, i| [acc[0] + CANONICAL_68[i][0] / n, acc[1] + CANONICAL_68[i][1] / n])
        };
        let (right, left) = (eye(36..42), eye(42..48));
        assert!((right[1] - left[1]).abs() < 0.5);
        assert!(((right[0] + left[0]) / 2.0 - 64.0).abs() < 1.0);
        assert!(right[0] < left[0], "subject's right eye is on the image's left");
    }
}
