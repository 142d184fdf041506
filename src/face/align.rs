//! Alignment: a similarity transform from frame pixels to the canonical face crop, from the
//! landmarks when there are some, else from the tracked face box.
//!
//! Landmark alignment is made steady by [`SteadyAlignment`]: each frame's transform is the
//! previous one carried by the tracker's motion (smooth and sub-pixel precise, like the box),
//! drawn towards the landmark fit with a time constant. The fit levels the eyes and frames the
//! face as the template does; the carry keeps landmark noise and expression-driven shifts of the
//! fit out of the crop, which is the motion stage's reference.

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

    /// `self + weight * (other - self)` on the four parameters: every point's image moves the
    /// same share of the way from where `self` puts it to where `other` does.
    pub fn towards(&self, other: &Similarity, weight: f32) -> Self {
        let mix = |a: f32, b: f32| a + weight * (b - a);
        Self { a: mix(self.a, other.a), b: mix(self.b, other.b), tx: mix(self.tx, other.tx), ty: mix(self.ty, other.ty) }
    }

    /// `self`, then a rotation by `angle` radians about the point `centre` of its output.
    pub fn rotated_about(&self, centre: [f32; 2], angle: f32) -> Self {
        let (a, b) = (angle.cos(), angle.sin());
        let rotation =
            Similarity { a, b, tx: centre[0] - (a * centre[0] - b * centre[1]), ty: centre[1] - (b * centre[0] + a * centre[1]) };
        rotation.after(self)
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

    pub fn by(&self) -> AlignBy {
        self.by
    }

    /// Frame -> crop for one frame of a tracked face on its own: the landmark fit (for either
    /// landmark alignment), the box levelled by this frame's eye line, else the box.
    pub fn transform(&self, track: &FaceTrack) -> Similarity {
        self.transform_carried(track, None)
    }

    /// [`Aligner::transform`], with `carried` following the face between frames (the live
    /// stage's): [`AlignBy::Landmarks`] carries the fit by [`SteadyAlignment`], [`AlignBy::Level`]
    /// the roll by [`SteadyRoll`], and a frame aligned any other way resets both.
    pub fn transform_carried(&self, track: &FaceTrack, carried: Option<CarriedAlignment<'_>>) -> Similarity {
        match (self.by, &track.landmarks) {
            (AlignBy::Landmarks | AlignBy::LandmarksPerFrame, Some(landmarks)) if let Some(fit) = self.fit(&landmarks.points) => {
                match carried {
                    Some(c) if self.by == AlignBy::Landmarks => c.steady.update(track.id, c.seconds, c.motion, fit),
                    other => {
                        if let Some(c) = other {
                            c.reset();
                        }
                        fit
                    }
                }
            }
            (AlignBy::Level, Some(landmarks)) => {
                let roll = eye_line_roll(&landmarks.points);
                let roll = match carried {
                    Some(c) => c.roll.update(track.id, c.seconds, roll),
                    None => roll,
                };
                self.levelled_box(&track.bbox, roll)
            }
            _ => {
                if let Some(c) = carried {
                    c.reset();
                }
                Similarity::from_box(&track.bbox, self.size as f32)
            }
        }
    }

    /// [`AlignBy::Level`]: the box's transform turned by `-roll` about the box's centre, so that
    /// an eye line rolled by `roll` in the frame is level in the crop.
    pub fn levelled_box(&self, bbox: &BoxF, roll: f32) -> Similarity {
        let by_box = Similarity::from_box(bbox, self.size as f32);
        let (cx, cy) = bbox.centre();
        by_box.rotated_about(by_box.apply([cx, cy]), -roll)
    }

    /// The similarity taking the 68 landmarks onto the template (a rigid subset fitted no
    /// better: `models/training/reports/alignment_steady_preregistration.md`).
    pub fn fit(&self, points: &[[f32; 2]; 68]) -> Option<Similarity> {
        Similarity::fit(points, &self.template())
    }

    /// The crop of `track` through [`Aligner::transform_carried`].
    pub fn align(
        &self,
        gray_frame: &Mat,
        track: &FaceTrack,
        carried: Option<CarriedAlignment<'_>>,
    ) -> Result<AlignedFace, FaceError> {
        let to_crop = self.transform_carried(track, carried);
        self.align_to(gray_frame, to_crop, self.by != AlignBy::Box && track.landmarks.is_some())
    }

    /// The crop through a transform decided elsewhere (see [`SteadyAlignment`]).
    pub fn align_to(&self, gray_frame: &Mat, to_crop: Similarity, from_landmarks: bool) -> Result<AlignedFace, FaceError> {
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
        Ok(AlignedFace { image, size: self.size, to_crop, from_landmarks })
    }
}

/// How fast [`SteadyAlignment`] and [`SteadyRoll`] follow the landmarks: the share of the way
/// still to go falls by e every this many seconds.
pub const STEADY_TIME_CONSTANT_S: f64 = 0.5;

/// The share of the way to the landmarks taken after `seconds`.
fn pull(seconds: f64) -> f32 {
    (1.0 - (-seconds / STEADY_TIME_CONSTANT_S).exp()) as f32
}

/// The centres of the subject's right eye (the image's left; points 36-41) and left eye (42-47)
/// of 68 iBUG points.
pub fn eye_centres(points: &[[f32; 2]; 68]) -> ([f32; 2], [f32; 2]) {
    let centre = |range: std::ops::Range<usize>| {
        let n = range.len() as f32;
        range.fold([0.0, 0.0], |c, i| [c[0] + points[i][0] / n, c[1] + points[i][1] / n])
    };
    (centre(36..42), centre(42..48))
}

/// The roll of the eye line in the frame (radians, image axes: positive when the subject's left
/// eye, on the image's right, is lower): from the right eye's landmark centre to the left's.
pub fn eye_line_roll(points: &[[f32; 2]; 68]) -> f32 {
    let (right, left) = eye_centres(points);
    (left[1] - right[1]).atan2(left[0] - right[0])
}

/// [`AlignBy::Level`]: the roll of the eye line, followed with [`STEADY_TIME_CONSTANT_S`]; within
/// a dead band around the roll it holds, the eye line does not turn the crop at all.
#[derive(Debug, Clone, Default)]
pub struct SteadyRoll {
    /// The face it follows, the time of its last frame and the roll then.
    last: Option<(u32, f64, f32)>,
    /// Radians; 0 follows every change.
    dead_band: f32,
}

impl SteadyRoll {
    /// `dead_band_rad`: eye-line rolls this close to the held roll leave it where it is (the
    /// eye line's estimate wanders by a degree or two with expressions and landmark error,
    /// while a turn of the crop is motion for the flow); beyond it the roll follows to the
    /// band's edge.
    pub fn with_dead_band(dead_band_rad: f32) -> Self {
        Self { last: None, dead_band: dead_band_rad.max(0.0) }
    }

    /// The roll for face `id` at `seconds`, given this frame's eye-line roll; a new face, or time
    /// that did not move forward, starts from it.
    pub fn update(&mut self, id: u32, seconds: f64, roll: f32) -> f32 {
        let followed = match self.last {
            Some((last_id, last_seconds, last)) if last_id == id && seconds > last_seconds => {
                let off = roll - last;
                let target = if off.abs() <= self.dead_band { last } else { roll - self.dead_band * off.signum() };
                last + pull(seconds - last_seconds) * (target - last)
            }
            _ => roll,
        };
        self.last = Some((id, seconds, followed));
        followed
    }

    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// What follows one face's alignment between frames, lent to [`Aligner::transform_carried`]
/// for one frame at `seconds`; `motion` is the tracker's (see [`SteadyAlignment::update`]).
pub struct CarriedAlignment<'a> {
    pub steady: &'a mut SteadyAlignment,
    pub roll: &'a mut SteadyRoll,
    pub seconds: f64,
    pub motion: Option<&'a Similarity>,
}

impl CarriedAlignment<'_> {
    /// Forgets the face (this frame was aligned without them).
    pub fn reset(self) {
        self.steady.reset();
        self.roll.reset();
    }
}

/// Landmark alignment carried from frame to frame (see the module's comment).
#[derive(Debug, Clone, Default)]
pub struct SteadyAlignment {
    /// The face it follows, the time of its last frame and that frame's transform.
    last: Option<(u32, f64, Similarity)>,
}

impl SteadyAlignment {
    pub fn new() -> Self {
        Self::default()
    }

    /// Frame -> crop for face `id` at `seconds`. `motion` is the tracker's frame-to-frame
    /// motion of the face (previous frame pixels -> this frame's), `None` when the face was not
    /// followed from the previous frame; `fit` is this frame's landmark fit. A new face, a face
    /// not followed, or time that did not move forward starts again from the fit.
    pub fn update(&mut self, id: u32, seconds: f64, motion: Option<&Similarity>, fit: Similarity) -> Similarity {
        let carried = match (&self.last, motion) {
            (Some((last_id, last_seconds, last)), Some(motion)) if *last_id == id && seconds > *last_seconds => {
                Some(last.after(&motion.inverse()).towards(&fit, pull(seconds - last_seconds)))
            }
            _ => None,
        };
        let to_crop = carried.unwrap_or(fit);
        self.last = Some((id, seconds, to_crop));
        to_crop
    }

    /// Forgets the face (it was lost).
    pub fn reset(&mut self) {
        self.last = None;
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

    /// Face `id` seen at 30 fps: the tracker's motion and the landmark fit of each frame.
    fn steady_run(frames: usize, motion: impl Fn(usize) -> Similarity, fit: impl Fn(usize) -> Similarity) -> Vec<Similarity> {
        let mut steady = SteadyAlignment::new();
        (0..frames).map(|i| steady.update(7, i as f64 / 30.0, (i > 0).then(|| motion(i)).as_ref(), fit(i))).collect()
    }

    #[test]
    fn steady_alignment_follows_the_trackers_motion_exactly() {
        // The face slides right 2 px and grows 0.5 % per frame; the fit agrees with the tracker.
        let step = |_| Similarity { a: 1.005, b: 0.0, tx: 2.0 - 0.005 * 320.0, ty: -0.005 * 240.0 };
        let start = Similarity { a: 0.6, b: 0.05, tx: -100.0, ty: -60.0 };
        let mut truth = vec![start];
        for i in 1..60 {
            let previous = truth[i - 1];
            truth.push(previous.after(&step(i).inverse()));
        }
        let got = steady_run(60, step, |i| truth[i]);
        for (g, t) in got.iter().zip(&truth) {
            for p in [[300.0, 200.0], [360.0, 260.0]] {
                let (a, b) = (g.apply(p), t.apply(p));
                assert!((a[0] - b[0]).abs() < 1e-2 && (a[1] - b[1]).abs() < 1e-2, "{g:?} {t:?}");
            }
        }
    }

    #[test]
    fn steady_alignment_keeps_landmark_noise_out_of_the_crop() {
        // A still face whose fit jitters by +-0.5 crop px from frame to frame.
        let truth = Similarity { a: 0.5, b: 0.0, tx: -80.0, ty: -40.0 };
        let noisy = |i: usize| Similarity { tx: truth.tx + 0.5 * ((i * 7919 % 13) as f32 / 6.0 - 1.0), ..truth };
        let got = steady_run(300, |_| Similarity::IDENTITY, noisy);
        let spread = |values: Vec<f32>| {
            let mean = values.iter().sum::<f32>() / values.len() as f32;
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt()
        };
        let raw = spread((100..300).map(|i| noisy(i).tx).collect());
        let steady = spread(got[100..].iter().map(|s| s.tx).collect());
        assert!(steady < 0.15 * raw, "frame-to-frame spread {steady} px, the fit's {raw} px");
    }

    #[test]
    fn steady_alignment_levels_the_eyes_within_a_few_time_constants_of_a_roll() {
        // The head rolls by 10 degrees at once; the box tracker sees no rotation, the fit does.
        let level = Similarity { a: 0.5, b: 0.0, tx: -80.0, ty: -40.0 };
        let angle = 10f32.to_radians();
        let rolled = Similarity { a: 0.5 * angle.cos(), b: 0.5 * angle.sin(), ..level };
        let tau = (STEADY_TIME_CONSTANT_S * 30.0).round() as usize;
        let got = steady_run(30 + 4 * tau, |_| Similarity::IDENTITY, |i| if i < 30 { level } else { rolled });
        assert_eq!(got[29], level);
        // One time constant after the roll about 63 % of it is taken up, three nearly all of it.
        let taken = |s: &Similarity| s.angle_degrees() / 10.0;
        assert!((taken(&got[29 + tau]) - 0.63).abs() < 0.05, "{}", got[29 + tau].angle_degrees());
        assert!(taken(&got[29 + 3 * tau]) > 0.94, "{}", got[29 + 3 * tau].angle_degrees());
    }

    #[test]
    fn steady_alignment_starts_from_the_fit_for_a_new_or_unfollowed_face() {
        let (fit, other) = (Similarity { a: 0.5, b: 0.0, tx: 1.0, ty: 2.0 }, Similarity { a: 0.6, b: 0.1, tx: 3.0, ty: 4.0 });
        let mut steady = SteadyAlignment::new();
        assert_eq!(steady.update(1, 0.0, None, fit), fit);
        // Followed: carried, only part of the way to the new fit.
        let carried = steady.update(1, 0.033, Some(&Similarity::IDENTITY), other);
        assert!(carried != other && carried != fit);
        // Not followed, another face, or time not moving forward: the fit.
        assert_eq!(steady.update(1, 0.066, None, fit), fit);
        assert_eq!(steady.update(2, 0.1, Some(&Similarity::IDENTITY), other), other);
        assert_eq!(steady.update(2, 0.1, Some(&Similarity::IDENTITY), fit), fit);
        steady.reset();
        assert_eq!(steady.update(2, 0.2, Some(&Similarity::IDENTITY), other), other);
    }

    #[test]
    fn level_turns_the_box_so_that_a_rolled_eye_line_is_level() {
        // The template's face rolled by 12 degrees about (300, 200) and scaled into a frame.
        let roll = 12f32.to_radians();
        let to_frame = Similarity { a: 2.0 * roll.cos(), b: 2.0 * roll.sin(), tx: 200.0, ty: 80.0 };
        let points = CANONICAL_68.map(|p| to_frame.apply(p));
        assert!((eye_line_roll(&points) - roll).abs() < 1e-4);
        let bbox = BoxF { x: 250.0, y: 180.0, width: 200.0, height: 200.0 };
        let track =
            FaceTrack { id: 1, bbox, landmarks: Some(crate::face::Landmarks { points }), confidence: 1.0, detected: true };
        let level = Aligner::new(128).aligned_by(AlignBy::Level).transform(&track);
        let by_box = Similarity::from_box(&bbox, 128.0);
        // Level in the crop, the same scale as the box, the box's centre where the box puts it.
        let crop_points = points.map(|p| level.apply(p));
        assert!(eye_line_roll(&crop_points).abs() < 1e-4, "{}", eye_line_roll(&crop_points));
        assert!((level.scale() - by_box.scale()).abs() < 1e-6);
        let (c, d) = (level.apply(bbox.centre().into()), by_box.apply(bbox.centre().into()));
        assert!((c[0] - d[0]).abs() < 1e-3 && (c[1] - d[1]).abs() < 1e-3);
        // Without landmarks it is the box.
        let bare = FaceTrack { landmarks: None, ..track.clone() };
        assert_eq!(Aligner::new(128).aligned_by(AlignBy::Level).transform(&bare), by_box);
        // The roll is followed with the time constant: a third of the way after 0.2 s at tau 0.5 s.
        let mut steady = SteadyRoll::default();
        assert_eq!(steady.update(1, 0.0, 0.0), 0.0);
        let after = steady.update(1, 0.2, roll);
        assert!((after / roll - (1.0 - (-0.2 / STEADY_TIME_CONSTANT_S).exp()) as f32).abs() < 1e-4, "{after}");
        assert_eq!(steady.update(2, 0.3, roll), roll, "a new face starts from its own roll");
    }

    #[test]
    fn a_roll_dead_band_holds_small_changes_and_follows_large_ones_to_its_edge() {
        let band = 1.5f32.to_radians();
        let mut held = SteadyRoll::with_dead_band(band);
        let start = 3.0f32.to_radians();
        assert_eq!(held.update(1, 0.0, start), start, "a new face starts from its own roll");
        for (i, wander) in [1.4f32, -1.4, 0.9, -0.5].into_iter().enumerate() {
            let seconds = 0.1 * (i + 1) as f64;
            assert_eq!(held.update(1, seconds, start + wander.to_radians()), start, "held within the band");
        }
        // A head that turns 10 degrees: followed to the band's edge with the time constant.
        let turned = start + 10f32.to_radians();
        let mut roll = start;
        for k in 1..=100 {
            roll = held.update(1, 0.4 + 0.05 * k as f64, turned);
        }
        assert!((roll - (turned - band)).abs() < 1e-4, "{} vs {}", roll.to_degrees(), (turned - band).to_degrees());
        let after = held.update(1, 5.5, turned - band * 0.5);
        assert!((after - roll).abs() < 1e-6, "back inside the band: held");
        assert_eq!(held.update(2, 5.6, 0.0), 0.0, "a new face starts from its own roll");
        // Without a band every change is followed.
        let mut plain = SteadyRoll::default();
        plain.update(1, 0.0, start);
        assert!(plain.update(1, 0.1, start + 1f32.to_radians()) > start);
    }

    #[test]
    fn alignment_names_parse_from_the_command_line_and_from_session_json() {
        for (text, by) in [
            ("box", AlignBy::Box),
            ("Landmarks", AlignBy::Landmarks),
            ("landmarks-per-frame", AlignBy::LandmarksPerFrame),
            ("LandmarksPerFrame", AlignBy::LandmarksPerFrame),
            ("level", AlignBy::Level),
        ] {
            assert_eq!(text.parse::<AlignBy>(), Ok(by), "{text}");
            assert_eq!(by.to_string().parse::<AlignBy>(), Ok(by));
        }
        assert!("eyes".parse::<AlignBy>().unwrap_err().contains("landmarks-per-frame"));
    }

    #[test]
    fn template_eyes_are_level_and_centred() {
        let (right, left) = eye_centres(&CANONICAL_68);
        assert!((right[1] - left[1]).abs() < 0.5);
        assert!(((right[0] + left[0]) / 2.0 - 64.0).abs() < 1.0);
        assert!(right[0] < left[0], "subject's right eye is on the image's left");
    }
}
