//! Synthetic face video generator (`glimpse synth`, the `synthetic` live source and the demo).
//!
//! The face of `assets/astronaut.png` (Eileen Collins, public domain) is placed in the frame and
//! animated with slow head motion, blinks, camera noise and seeded micro- and
//! macro-expressions. Expressions are smooth local deformations (sums of Gaussian RBF
//! displacements around AU landmarks) of AUs 1+2, 4, 6, 9, 12, 14 and 15 with a raised-cosine
//! rise from onset to apex and fall to offset. Every event is listed in the truth
//! ([`TruthEvent`], CSV via [`write_truth_csv`]); blinks are distractors and are not.
//!
//! Rendering is one backward warp (`cv::remap`, bilinear) of a precomputed neutral canvas; the
//! map composes head motion, the inverse expression field and blinks, then seeded Gaussian
//! noise is added. `render(i)` depends only on `(spec, i)`, so frames can be rendered in any order.
//!
//! Conventions:
//! - frame indices passed to methods are 0-based; frame numbers in [`TruthEvent`], the truth
//!   CSV and [`SyntheticFace::blinks`] are 1-based (OpenFace numbering: frame 1 = index 0);
//! - media time of index `i` is `i * 1000 / fps` ms;
//! - sides follow FACS: `L` is the subject's left (the image's right half), `R` the subject's right.

mod face;
mod io;
mod plan;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use opencv::core::{self, Mat, Scalar, Size};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use crate::spotting::EventKind;
pub use face::SRC_LANDMARKS;
pub use io::{SynthSummary, TRUTH_HEADER, read_truth_csv, write_truth_csv, write_video};
pub use plan::HeadPose;

use face::{Bases, Eye, Layout, MARGIN};
use plan::{Blink, HeadMotion, PlannedEvent};

const ASTRONAUT_PNG: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"));
const SALT_NOISE: u64 = 0x6E6F_6973_6521_0001;
/// Entries of the Gaussian quantile table (12 random bits per sample: small enough to stay in
/// L1 cache, tails to +-3.5 sigma).
const NOISE_TABLE_LEN: usize = 4096;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSpec {
    /// Frame width in pixels (32..=8192).
    pub width: i32,
    /// Frame height in pixels (32..=8192).
    pub height: i32,
    /// Frames per second (> 0).
    pub fps: f64,
    /// Length of the video in seconds (> 0); the video has `round(seconds * fps)` frames.
    pub seconds: f64,
    /// Number of micro-expressions (150-500 ms, 0.5-3 px at the apex).
    pub micro_events: usize,
    /// Number of macro-expressions (0.8-3 s, 3-8 px at the apex), distractors.
    pub macro_events: usize,
    /// Seed: everything (events, blinks, head motion, noise) is a function of it.
    pub seed: u64,
    /// Standard deviation of the additive Gaussian camera noise, in 8-bit levels (0 = none).
    pub noise_sigma: f32,
    /// Slow head motion (translation <= 3 px, rotation <= 1 degree, scale +-1 %).
    pub head_motion: bool,
    /// A head rolled by this many degrees all along (positive: clockwise on screen), on top of
    /// the head motion: a tilted head, for what alignment does with one (-45..=45).
    pub roll_deg: f32,
    /// Blinks every 2-6 s (not in the truth).
    pub blinks: bool,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            width: 640,
            height: 480,
            fps: 30.0,
            seconds: 20.0,
            micro_events: 8,
            macro_events: 2,
            seed: 1,
            noise_sigma: 2.0,
            head_motion: true,
            roll_deg: 0.0,
            blinks: true,
        }
    }
}

/// Intended emotion of an event: 12 and 6+12 positive; 1+2 surprise; 4, 9, 4+9, 14, 15 negative.
/// Displays and (de)serialises as `negative` / `positive` / `surprise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    Negative,
    Positive,
    Surprise,
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Emotion::Negative => "negative",
            Emotion::Positive => "positive",
            Emotion::Surprise => "surprise",
        })
    }
}

impl FromStr for Emotion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "negative" => Ok(Emotion::Negative),
            "positive" => Ok(Emotion::Positive),
            "surprise" => Ok(Emotion::Surprise),
            other => Err(format!("unknown emotion '{other}' (expected negative, positive or surprise)")),
        }
    }
}

/// One injected expression event (a row of the truth CSV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthEvent {
    /// 1, 2, ... in time order.
    pub event_id: u32,
    pub kind: EventKind,
    /// 1-based frame number (frame 1 = index 0) where the motion starts (intensity 0).
    pub onset_frame: u64,
    /// 1-based frame number of the apex (peak intensity; for macro-expressions the middle of
    /// the apex plateau).
    pub apex_frame: u64,
    /// 1-based frame number where the motion has ended (intensity 0 again).
    pub offset_frame: u64,
    /// Media time of the onset frame: `(onset_frame - 1) * 1000 / fps`.
    pub onset_ms: f64,
    /// Media time of the apex frame.
    pub apex_ms: f64,
    /// Media time of the offset frame.
    pub offset_ms: f64,
    /// `offset_ms - onset_ms`.
    pub duration_ms: f64,
    /// AUs in dataset notation: `1+2`, `4`, `9`, `4+9`, `12`, `6+12`, `14`, `15`, with an
    /// `L`/`R` prefix when one-sided (e.g. `R12`).
    pub aus: String,
    pub emotion: Emotion,
    /// Peak displacement magnitude at the apex, in frame pixels (at head scale 1).
    pub amplitude_px: f32,
    /// `Some('L')` / `Some('R')` for one-sided events (subject's left / right), else `None`.
    pub side: Option<char>,
}

/// Errors of the generator. Messages name the file or the field and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth spec: {0}")]
    Spec(String),
    #[error(
        "cannot fit {micro} micro + {macro_} macro events into {seconds} s at {fps} fps: they need at least \
         {needed_s:.2} s (1.5 s lead-in, >= 1 s between events, 0.5 s tail); use more --seconds or fewer --events"
    )]
    TooManyEvents { micro: usize, macro_: usize, seconds: f64, fps: f64, needed_s: f64 },
    #[error("OpenCV failed while {context}: {source}")]
    OpenCv {
        context: String,
        #[source]
        source: opencv::Error,
    },
    #[error("cannot open a video writer for {path}: {detail}")]
    VideoOpen { path: PathBuf, detail: String },
    #[error("unsupported video file extension for {path}: use .mp4, .m4v, .mov, .mkv or .avi")]
    VideoFormat { path: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CSV error in {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("bad truth CSV {path}: {detail}")]
    TruthFormat { path: PathBuf, detail: String },
}

pub(crate) trait CvContext<T> {
    fn cv(self, context: &str) -> Result<T, SynthError>;
}

impl<T> CvContext<T> for opencv::Result<T> {
    fn cv(self, context: &str) -> Result<T, SynthError> {
        self.map_err(|source| SynthError::OpenCv { context: context.to_string(), source })
    }
}

/// The generator: plans everything from the seed up front, renders any frame on demand.
pub struct SyntheticFace {
    spec: SynthSpec,
    frame_count: u64,
    layout: Layout,
    /// Neutral face on a canvas of (width + 2 MARGIN) x (height + 2 MARGIN), BGR.
    canvas: Mat,
    neutral_lm: [[f32; 2]; 68],
    face_centre: [f32; 2],
    bases: Bases,
    eyes: [Eye; 2],
    events: Vec<PlannedEvent>,
    truth: Vec<TruthEvent>,
    blinks: Vec<Blink>,
    blink_ranges: Vec<(u64, u64)>,
    head: HeadMotion,
    /// Gaussian noise quantiles (rounded sigma * z) indexed by 12 random bits.
    noise_table: Vec<i16>,
    // Scratch buffers reused between frames.
    map_x: Mat,
    map_y: Mat,
    field: Vec<[f32; 2]>,
    /// ROI-local box of `field` that may hold non-zero values.
    field_box: [i32; 4],
    noise_bits: Vec<u8>,
}

impl fmt::Debug for SyntheticFace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyntheticFace")
            .field("spec", &self.spec)
            .field("frame_count", &self.frame_count)
            .field("events", &self.truth.len())
            .field("blinks", &self.blinks.len())
            .finish_non_exhaustive()
    }
}

impl SynthSpec {
    /// Checks the spec (sizes, rates, noise) and returns the frame count `round(seconds * fps)`.
    /// Whether the events fit is checked by [`SyntheticFace::new`].
    pub fn validate(&self) -> Result<u64, SynthError> {
        validate(self)
    }
}

fn validate(spec: &SynthSpec) -> Result<u64, SynthError> {
    let bad = |m: String| Err(SynthError::Spec(m));
    if !(32..=8192).contains(&spec.width) || !(32..=8192).contains(&spec.height) {
        return bad(format!("frame size {}x{} must be between 32 and 8192 on each side", spec.width, spec.height));
    }
    if !(spec.fps.is_finite() && spec.fps > 0.0 && spec.fps <= 1000.0) {
        return bad(format!("fps must be > 0 and <= 1000, got {}", spec.fps));
    }
    if !(spec.seconds.is_finite() && spec.seconds > 0.0) {
        return bad(format!("seconds must be > 0, got {}", spec.seconds));
    }
    if !(spec.noise_sigma.is_finite() && (0.0..=64.0).contains(&spec.noise_sigma)) {
        return bad(format!("noise_sigma must be between 0 and 64 (8-bit levels), got {}", spec.noise_sigma));
    }
    if !(spec.roll_deg.is_finite() && spec.roll_deg.abs() <= 45.0) {
        return bad(format!("roll must be between -45 and 45 degrees, got {}", spec.roll_deg));
    }
    let frames = (spec.seconds * spec.fps).round();
    if frames < 1.0 {
        return bad(format!("{} s at {} fps is less than one frame", spec.seconds, spec.fps));
    }
    if frames > 1.0e8 {
        return bad(format!("{} s at {} fps is too many frames ({frames})", spec.seconds, spec.fps));
    }
    Ok(frames as u64)
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383577518672690e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

impl SyntheticFace {
    /// Validates `spec`, builds the neutral frame and the AU bases, and plans all events,
    /// blinks and head motion from the seed.
    pub fn new(spec: SynthSpec) -> Result<Self, SynthError> {
        let frame_count = validate(&spec)?;
        let (w, h) = (spec.width, spec.height);
        let layout = Layout::new(w, h);

        let buf = core::Vector::<u8>::from_slice(ASTRONAUT_PNG);
        let src = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).cv("decoding the embedded assets/astronaut.png")?;
        if src.cols() != face::SRC_SIZE || src.rows() != face::SRC_SIZE || src.typ() != core::CV_8UC3 {
            return Err(SynthError::Spec(format!(
                "embedded assets/astronaut.png decoded to {}x{} type {}, expected 512x512 BGR",
                src.cols(),
                src.rows(),
                src.typ()
            )));
        }
        let m = MARGIN as f64;
        let affine =
            Mat::from_slice_2d(&[[layout.k as f64, 0.0, layout.tx as f64 + m], [0.0, layout.k as f64, layout.ty as f64 + m]])
                .cv("building the placement matrix")?;
        let mut canvas = Mat::default();
        imgproc::warp_affine(
            &src,
            &mut canvas,
            &affine,
            Size::new(w + 2 * MARGIN, h + 2 * MARGIN),
            imgproc::INTER_CUBIC,
            core::BORDER_REFLECT_101,
            Scalar::default(),
        )
        .cv("placing the astronaut image in the frame")?;

        let mut neutral_lm = [[0.0f32; 2]; 68];
        for (d, s) in neutral_lm.iter_mut().zip(face::SRC_LANDMARKS.iter()) {
            *d = layout.to_frame(*s);
        }
        let (mut cx, mut cy) = (0.0, 0.0);
        for p in &neutral_lm {
            cx += p[0] / 68.0;
            cy += p[1] / 68.0;
        }
        let bases = Bases::new(&neutral_lm, w, h);
        let eyes = [Eye::new(&neutral_lm, false), Eye::new(&neutral_lm, true)];

        let mut events = plan::plan_events(&spec, frame_count)?;
        for e in &mut events {
            // Normalise so that the combined field peaks at the event's amplitude.
            let mut peak = 0.0f32;
            for k in 0..bases.roi.len() {
                let (mut dx, mut dy) = (0.0, 0.0);
                for &(b, c) in &e.raw_components {
                    dx += c * bases.fields[b][k][0];
                    dy += c * bases.fields[b][k][1];
                }
                peak = peak.max((dx * dx + dy * dy).sqrt());
            }
            let scale = if peak > 0.0 { e.truth.amplitude_px / peak } else { 0.0 };
            e.components = e.raw_components.iter().map(|&(b, c)| (b, c * scale)).collect();
        }
        let truth = events.iter().map(|e| e.truth.clone()).collect();
        let blinks = if spec.blinks { plan::plan_blinks(&spec, frame_count, &events) } else { Vec::new() };
        let blink_ranges = blinks.iter().map(|b| (b.start + 2, b.end)).collect();
        let head = HeadMotion::new(&spec);

        let noise_table = if spec.noise_sigma > 0.0 {
            (0..NOISE_TABLE_LEN as u32)
                .map(|i| {
                    let z = normal_quantile((i as f64 + 0.5) / NOISE_TABLE_LEN as f64);
                    (spec.noise_sigma as f64 * z).round().clamp(-255.0, 255.0) as i16
                })
                .collect()
        } else {
            Vec::new()
        };
        let map_x = Mat::new_rows_cols_with_default(h, w, core::CV_32FC1, Scalar::all(0.0)).cv("allocating map_x")?;
        let map_y = Mat::new_rows_cols_with_default(h, w, core::CV_32FC1, Scalar::all(0.0)).cv("allocating map_y")?;
        let field = vec![[0.0f32; 2]; bases.roi.len()];
        Ok(SyntheticFace {
            spec,
            frame_count,
            layout,
            canvas,
            neutral_lm,
            face_centre: [cx, cy],
            bases,
            eyes,
            events,
            truth,
            blinks,
            blink_ranges,
            head,
            noise_table,
            map_x,
            map_y,
            field,
            field_box: [0, 0, 0, 0],
            noise_bits: Vec::new(),
        })
    }

    pub fn spec(&self) -> &SynthSpec {
        &self.spec
    }

    /// `round(seconds * fps)`.
    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    /// All injected events in time order (1-based frame numbers).
    pub fn truth(&self) -> &[TruthEvent] {
        &self.truth
    }

    /// Blinks as inclusive 1-based frame ranges `(first, last)` of the frames in which the
    /// eyes are (partly) closed. Not part of the truth: they are distractors.
    pub fn blinks(&self) -> &[(u64, u64)] {
        &self.blink_ranges
    }

    /// Media time in ms of the 0-based frame `index`: `index * 1000 / fps`.
    pub fn frame_time_ms(&self, index: u64) -> f64 {
        index as f64 * 1000.0 / self.spec.fps
    }

    /// The 68 landmarks of the neutral face at the rest head pose, in frame pixels.
    pub fn neutral_landmarks(&self) -> [[f32; 2]; 68] {
        self.neutral_lm
    }

    /// Scale from `assets/astronaut.png` pixels to frame pixels (at the rest head pose).
    pub fn image_scale(&self) -> f32 {
        self.layout.k
    }

    /// Neutral face box (x, y, w, h) in frame pixels at the rest pose: the Haar face box of the
    /// source image mapped into the frame.
    pub fn face_box(&self) -> [f32; 4] {
        let b = face::SRC_FACE_BOX;
        let p = self.layout.to_frame([b[0], b[1]]);
        [p[0], p[1], b[2] * self.layout.k, b[3] * self.layout.k]
    }

    /// Head pose of 0-based frame `index` (the still roll alone when head motion is off).
    pub fn head_pose(&self, index: u64) -> HeadPose {
        self.head.pose(index as f64 / self.spec.fps)
    }

    /// The active event at 0-based frame `index` and its intensity in (0, 1], if any.
    pub fn active_event(&self, index: u64) -> Option<(&TruthEvent, f32)> {
        self.events.iter().find_map(|e| {
            let a = e.intensity(index);
            (a > 0.0).then_some((&e.truth, a))
        })
    }

    /// Eyelid closure in [0, 1] at 0-based frame `index` (0 = open).
    pub fn blink_closure(&self, index: u64) -> f32 {
        self.blinks.iter().map(|b| b.closure(index)).fold(0.0, f32::max)
    }

    /// Basis coefficients of the expression at `index` (empty when no event is active).
    fn active_components(&self, index: u64) -> Vec<(usize, f32)> {
        let mut out = Vec::new();
        for e in &self.events {
            let a = e.intensity(index);
            if a > 0.0 {
                out.extend(e.components.iter().map(|&(b, c)| (b, c * a)));
            }
        }
        out
    }

    /// Expression displacement at a neutral-frame point (bilinear from the bases).
    fn displacement_at(&self, comps: &[(usize, f32)], p: [f32; 2]) -> [f32; 2] {
        let mut d = [0.0f32; 2];
        for &(b, c) in comps {
            let v = face::sample(&self.bases.fields[b], &self.bases.roi, p[0], p[1]);
            d[0] += c * v[0];
            d[1] += c * v[1];
        }
        d
    }

    /// Forward head transform of a neutral-frame point.
    fn head_forward(&self, pose: &HeadPose, p: [f32; 2]) -> [f32; 2] {
        let (s, c) = pose.angle.sin_cos();
        let [cx, cy] = self.face_centre;
        let (dx, dy) = (p[0] - cx, p[1] - cy);
        [cx + pose.scale * (c * dx - s * dy) + pose.tx, cy + pose.scale * (s * dx + c * dy) + pose.ty]
    }

    /// Inverse head transform as an affine map: p = A x + b, returned as [a00, a01, b0, a10, a11, b1].
    fn head_inverse(&self, pose: &HeadPose) -> [f32; 6] {
        let (s, c) = pose.angle.sin_cos();
        let inv = 1.0 / pose.scale;
        let (a00, a01, a10, a11) = (c * inv, s * inv, -s * inv, c * inv);
        let [cx, cy] = self.face_centre;
        let (ox, oy) = (cx + pose.tx, cy + pose.ty);
        [a00, a01, cx - (a00 * ox + a01 * oy), a10, a11, cy - (a10 * ox + a11 * oy)]
    }

    /// The true 68 iBUG landmarks of rendered frame `index` in frame pixels (blink, expression
    /// and head motion applied).
    pub fn landmarks(&self, index: u64) -> [[f32; 2]; 68] {
        let comps = self.active_components(index);
        let closure = self.blink_closure(index);
        let pose = self.head_pose(index);
        let mut out = self.neutral_lm;
        for (i, p) in out.iter_mut().enumerate() {
            let mut q = *p;
            if closure > 0.0 {
                for eye in &self.eyes {
                    q = eye.forward_landmark(closure, i, q);
                }
            }
            let d = self.displacement_at(&comps, q);
            *p = self.head_forward(&pose, [q[0] + d[0], q[1] + d[1]]);
        }
        out
    }

    /// The true motion between two rendered frames: for each frame-pixel point `p` of 0-based
    /// frame `from`, where that point of the face is in frame `to` (frame pixels), as the
    /// renderer draws both (head motion and expressions; with `expressions` false, head motion
    /// alone). `None` where a blink moves the point in either frame (an occluding eyelid has no
    /// flow). Camera noise is not motion and is not in it.
    pub fn point_motion(&self, from: u64, to: u64, points: &[[f32; 2]], expressions: bool) -> Vec<Option<[f32; 2]>> {
        let comps = |index| if expressions { self.active_components(index) } else { Vec::new() };
        let (comps_from, comps_to) = (comps(from), comps(to));
        let closures = [self.blink_closure(from), self.blink_closure(to)];
        let (pose_from, pose_to) = (self.head_pose(from), self.head_pose(to));
        let a = self.head_inverse(&pose_from);
        points
            .iter()
            .map(|&[x, y]| {
                let p = [a[0] * x + a[1] * y + a[2], a[3] * x + a[4] * y + a[5]];
                // The renderer's inverse of p = q + D(q): the same three fixed-point steps.
                let mut q = p;
                if !comps_from.is_empty() {
                    for _ in 0..3 {
                        let d = self.displacement_at(&comps_from, q);
                        q = [p[0] - d[0], p[1] - d[1]];
                    }
                }
                for c in closures.into_iter().filter(|&c| c > 0.0) {
                    if self.eyes.iter().any(|eye| eye.backward(c, q) != q) {
                        return None;
                    }
                }
                let d = self.displacement_at(&comps_to, q);
                Some(self.head_forward(&pose_to, [q[0] + d[0], q[1] + d[1]]))
            })
            .collect()
    }

    /// Expression-only motion of frame `index` relative to the neutral face at the same head
    /// pose, as CV_32F (u, v) fields of size width x height in frame pixels. The field is
    /// sampled at the neutral-at-pose pixel (forward flow from the neutral face to the rendered
    /// face, the usual optical-flow convention); it is exactly zero outside events and outside
    /// the AU regions.
    pub fn expression_displacement(&self, index: u64) -> Result<(Mat, Mat), SynthError> {
        let (w, h) = (self.spec.width, self.spec.height);
        let mut u = Mat::new_rows_cols_with_default(h, w, core::CV_32FC1, Scalar::all(0.0)).cv("allocating u")?;
        let mut v = Mat::new_rows_cols_with_default(h, w, core::CV_32FC1, Scalar::all(0.0)).cv("allocating v")?;
        let comps = self.active_components(index);
        if comps.is_empty() {
            return Ok((u, v));
        }
        let pose = self.head_pose(index);
        let a = self.head_inverse(&pose);
        let (s, c) = pose.angle.sin_cos();
        let roi = self.bases.roi;
        let us = u.data_typed_mut::<f32>().cv("writing u")?;
        let vs = v.data_typed_mut::<f32>().cv("writing v")?;
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                let px = a[0] * xf + a[1] * yf + a[2];
                let py = a[3] * xf + a[4] * yf + a[5];
                if px < roi.x0 as f32 || py < roi.y0 as f32 || px >= (roi.x0 + roi.w) as f32 || py >= (roi.y0 + roi.h) as f32 {
                    continue;
                }
                let d = self.displacement_at(&comps, [px, py]);
                let k = (y * w + x) as usize;
                us[k] = pose.scale * (c * d[0] - s * d[1]);
                vs[k] = pose.scale * (s * d[0] + c * d[1]);
            }
        }
        Ok((u, v))
    }

    /// Renders 0-based frame `index` as a BGR CV_8UC3 image of width x height. Deterministic
    /// for (spec, index) and independent of the order of calls. Indices past `frame_count()`
    /// render the neutral face with head motion and noise (handy for looping live sources).
    pub fn render(&mut self, index: u64) -> Result<Mat, SynthError> {
        let (w, h) = (self.spec.width as usize, self.spec.height as usize);
        let comps = self.active_components(index);
        let closure = self.blink_closure(index);
        let pose = self.head_pose(index);
        let a = self.head_inverse(&pose);
        let roi = self.bases.roi;
        let margin = MARGIN as f32;

        // Combined expression field on the ROI, written only inside the union of the active
        // bases' boxes (the rest of the buffer is kept at zero).
        let expr = !comps.is_empty();
        let rw = roi.w as usize;
        let mut bx = [roi.w, roi.h, 0, 0];
        for &(b, _) in &comps {
            let o = self.bases.boxes[b];
            bx = [bx[0].min(o[0]), bx[1].min(o[1]), bx[2].max(o[2]), bx[3].max(o[3])];
        }
        {
            let field = &mut self.field;
            let lb = self.field_box;
            for j in lb[1]..lb[3] {
                let row = j as usize * rw;
                field[row + lb[0] as usize..row + lb[2] as usize].fill([0.0, 0.0]);
            }
            self.field_box = [0, 0, 0, 0];
            if expr && bx[0] < bx[2] && bx[1] < bx[3] {
                let fields = &self.bases.fields;
                for j in bx[1]..bx[3] {
                    let r = j as usize * rw + bx[0] as usize..j as usize * rw + bx[2] as usize;
                    let dst = &mut field[r.clone()];
                    for &(b, c) in &comps {
                        for (d, s) in dst.iter_mut().zip(fields[b][r.clone()].iter()) {
                            d[0] += c * s[0];
                            d[1] += c * s[1];
                        }
                    }
                }
                self.field_box = bx;
            }
        }
        let expr = self.field_box[2] > self.field_box[0];
        // Neutral-frame region where the inverse expression map is needed.
        let fb = self.field_box;
        let (rx0, ry0) = ((roi.x0 + fb[0]) as f32 - 1.0, (roi.y0 + fb[1]) as f32 - 1.0);
        let (rx1, ry1) = ((roi.x0 + fb[2]) as f32 + 1.0, (roi.y0 + fb[3]) as f32 + 1.0);
        let eyes = self.eyes;
        let field = &self.field;
        {
            let mx = self.map_x.data_typed_mut::<f32>().cv("writing map_x")?;
            let my = self.map_y.data_typed_mut::<f32>().cv("writing map_y")?;
            for y in 0..h {
                let yf = y as f32;
                let row_x = &mut mx[y * w..(y + 1) * w];
                let row_y = &mut my[y * w..(y + 1) * w];
                let (mut px, mut py) = (a[1] * yf + a[2], a[4] * yf + a[5]);
                for x in 0..w {
                    let mut q = [px, py];
                    if expr && px >= rx0 && py >= ry0 && px < rx1 && py < ry1 {
                        // Inverse of p = q + D(q) by fixed-point iteration.
                        for _ in 0..3 {
                            let d = face::sample(field, &roi, q[0], q[1]);
                            q = [px - d[0], py - d[1]];
                        }
                    }
                    if closure > 0.0 {
                        for eye in &eyes {
                            q = eye.backward(closure, q);
                        }
                    }
                    row_x[x] = q[0] + margin;
                    row_y[x] = q[1] + margin;
                    px += a[0];
                    py += a[3];
                }
            }
        }
        let mut out = Mat::default();
        imgproc::remap(
            &self.canvas,
            &mut out,
            &self.map_x,
            &self.map_y,
            imgproc::INTER_LINEAR,
            core::BORDER_REFLECT,
            Scalar::default(),
        )
        .cv("remapping the face")?;
        if !self.noise_table.is_empty() {
            let bytes = out.data_bytes_mut().cv("adding noise")?;
            self.noise_bits.resize(bytes.len() * 2, 0);
            let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed ^ SALT_NOISE);
            rng.set_stream(index);
            rng.fill_bytes(&mut self.noise_bits);
            let table = &self.noise_table;
            for (px, r) in bytes.iter_mut().zip(self.noise_bits.chunks_exact(2)) {
                let n = table[(u16::from_le_bytes([r[0], r[1]]) as usize) & (NOISE_TABLE_LEN - 1)];
                *px = (*px as i16 + n).clamp(0, 255) as u8;
            }
        }
        Ok(out)
    }
}
