//! Face stage: detect (Haar), track between detections (Lucas-Kanade), keep one stable identity,
//! and align the face to the canonical crop with a similarity transform.
//!
//! Landmarks plug in through [`LandmarkDetector`]: when one is set, each tracked face gets 68
//! points, and alignment uses them (by default to level the box's crop; [`AlignBy`]) with no
//! change to what this stage returns.

mod align;
mod detect;
pub mod template;
mod track;

pub use align::{
    AlignedFace, Aligner, CarriedAlignment, STEADY_TIME_CONSTANT_S, Similarity, SteadyAlignment, SteadyRoll, eye_centres,
    eye_line_roll,
};
pub use detect::{FaceDetector, find_cascade};
pub use track::BoxTracker;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::capture::Frame;

/// An axis-aligned box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BoxF {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoxF {
    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn iou(&self, other: &BoxF) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// 68 iBUG points in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Landmarks {
    pub points: [[f32; 2]; 68],
}

/// A model (or anything else) that places the 68 points on a tracked face.
pub trait LandmarkDetector: Send {
    fn name(&self) -> &str;
    fn locate(&mut self, frame: &Frame, gray: &Mat, face: &BoxF) -> Result<Landmarks, FaceError>;
}

/// The face followed in this frame.
#[derive(Debug, Clone)]
pub struct FaceTrack {
    /// Stable while the same face is tracked; a new id when a face is found after losing one.
    pub id: u32,
    pub bbox: BoxF,
    pub landmarks: Option<Landmarks>,
    /// How much this frame's face estimate can be trusted (0..1).
    pub confidence: f32,
    /// This frame ran the detector (as opposed to tracking only).
    pub detected: bool,
}

/// What the face stage says about one frame.
pub struct FaceResult {
    pub track: Option<FaceTrack>,
    pub aligned: Option<AlignedFace>,
}

impl FaceResult {
    /// OpenFace's `success`: a face whose estimate is trustworthy enough to measure.
    pub fn success(&self) -> bool {
        self.aligned.is_some() && self.track.as_ref().is_some_and(|t| t.confidence >= SUCCESS_CONFIDENCE)
    }

    pub fn confidence(&self) -> f32 {
        self.track.as_ref().map_or(0.0, |t| t.confidence)
    }
}

/// Where the face stage's time went on the last frame (for `glimpse bench`'s per-stage table).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaceTimings {
    /// Grey conversion, the working copy and Lucas-Kanade tracking.
    pub track: Duration,
    /// The Haar detector, on the frames that ran it.
    pub detect: Option<Duration>,
    /// The landmark model, when one is set and a face is tracked.
    pub landmarks: Option<Duration>,
    /// The crop, when a face is tracked.
    pub align: Option<Duration>,
}

/// Frames below this confidence are reported with `success = 0` and not measured.
pub const SUCCESS_CONFIDENCE: f32 = 0.5;

#[derive(Debug, Clone)]
pub struct FaceConfig {
    /// Detection and tracking work on a copy at most this wide.
    pub working_width: i32,
    /// Run the detector every this many frames while tracking (always when lost).
    pub redetect_every: u32,
    /// Side of the aligned crop.
    pub crop_size: i32,
    /// Cascade file; `None` finds Debian's.
    pub cascade: Option<PathBuf>,
    /// What the crop is aligned by when landmarks are there (see [`AlignBy`]).
    pub align_by: AlignBy,
    /// [`AlignBy::Level`]: eye-line rolls within this many degrees of the held roll do not turn
    /// the crop ([`SteadyRoll::with_dead_band`]).
    pub roll_dead_band_deg: f32,
}

/// The default [`FaceConfig::roll_dead_band_deg`].
pub const ROLL_DEAD_BAND_DEG: f32 = 0.0;

/// What places the face in the canonical crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum AlignBy {
    /// The tracked box (Lucas-Kanade corners move it smoothly and sub-pixel precisely; no roll).
    Box,
    /// The landmark fit, carried between frames by the tracker's motion ([`SteadyAlignment`]),
    /// when the landmark model runs: eyes level, the template's framing.
    Landmarks,
    /// A similarity fitted to the landmarks of each frame on its own (before [`SteadyAlignment`];
    /// kept for comparison).
    LandmarksPerFrame,
    /// The tracked box's framing, turned so that the eye line (from the landmarks, followed by
    /// [`SteadyRoll`]) is level; the box alone without landmarks. The default: it spots as well
    /// as the box on an upright head and far better on a tilted one (`glimpse eval spotting
    /// --roll 12`; the numbers and the rule that chose it are in the README, *Alignment*).
    #[default]
    Level,
}

impl std::fmt::Display for AlignBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlignBy::Box => "box",
            AlignBy::Landmarks => "landmarks",
            AlignBy::LandmarksPerFrame => "landmarks-per-frame",
            AlignBy::Level => "level",
        })
    }
}

impl std::str::FromStr for AlignBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Also the serialised names `session.json` holds ("Box", "Landmarks", "LandmarksPerFrame").
        match s.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "box" => Ok(AlignBy::Box),
            "landmarks" => Ok(AlignBy::Landmarks),
            "landmarksperframe" => Ok(AlignBy::LandmarksPerFrame),
            "level" => Ok(AlignBy::Level),
            _ => Err(format!("unknown alignment '{}' (expected 'box', 'level', 'landmarks' or 'landmarks-per-frame')", s.trim())),
        }
    }
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            working_width: 320,
            redetect_every: 15,
            crop_size: 128,
            cascade: None,
            align_by: AlignBy::Level,
            roll_dead_band_deg: ROLL_DEAD_BAND_DEG,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(
        "face detector cascade not found (looked at {}); install Debian's `opencv-data` or set GLIMPSE_CASCADE",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    CascadeMissing { searched: Vec<PathBuf> },
    #[error("cannot load face detector cascade '{path}': {reason}")]
    CascadeUnreadable { path: PathBuf, reason: String },
    #[error("landmarks: {0}")]
    Landmarks(String),
    #[error("OpenCV error in the face stage: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Detection, tracking, identity and alignment, for the largest face.
pub struct FaceStage {
    config: FaceConfig,
    detector: FaceDetector,
    tracker: BoxTracker,
    aligner: Aligner,
    steady: SteadyAlignment,
    roll: SteadyRoll,
    /// The tracker's motion of the face from the previous frame to this one (frame pixels);
    /// `None` when it was not followed (a new face, or the tracker lost it).
    motion: Option<Similarity>,
    landmarks: Option<Box<dyn LandmarkDetector>>,
    previous_small: Option<Mat>,
    track: Option<FaceTrack>,
    next_id: u32,
    since_detection: u32,
    missed_detections: u32,
    timings: FaceTimings,
}

/// Detections that miss the tracked face this many times in a row end the track.
const MAX_MISSED_DETECTIONS: u32 = 3;

impl FaceStage {
    pub fn new(config: FaceConfig) -> Result<Self, FaceError> {
        let cascade = match &config.cascade {
            Some(path) => path.clone(),
            None => find_cascade()?,
        };
        Ok(Self {
            detector: FaceDetector::new(&cascade)?,
            tracker: BoxTracker::new(),
            aligner: Aligner::new(config.crop_size).aligned_by(config.align_by),
            steady: SteadyAlignment::new(),
            roll: SteadyRoll::with_dead_band(config.roll_dead_band_deg.to_radians()),
            motion: None,
            config,
            landmarks: None,
            previous_small: None,
            track: None,
            next_id: 0,
            since_detection: 0,
            missed_detections: 0,
            timings: FaceTimings::default(),
        })
    }

    pub fn with_landmarks(mut self, detector: Box<dyn LandmarkDetector>) -> Self {
        self.landmarks = Some(detector);
        self
    }

    pub fn aligner(&self) -> &Aligner {
        &self.aligner
    }

    /// Where the time of the last [`FaceStage::process`] went.
    pub fn last_timings(&self) -> FaceTimings {
        self.timings
    }

    pub fn process(&mut self, frame: &Frame) -> Result<FaceResult, FaceError> {
        let started = Instant::now();
        self.timings = FaceTimings::default();
        let mut gray = Mat::default();
        imgproc::cvt_color_def(&frame.image, &mut gray, imgproc::COLOR_BGR2GRAY)?;
        let scale = (self.config.working_width as f32 / gray.cols().max(1) as f32).min(1.0);
        let small = if scale < 1.0 {
            let mut small = Mat::default();
            let size = Size::new((gray.cols() as f32 * scale).round() as i32, (gray.rows() as f32 * scale).round() as i32);
            imgproc::resize(&gray, &mut small, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            small
        } else {
            gray.clone()
        };

        self.follow(&small, scale, frame.width() as f32, frame.height() as f32)?;
        self.previous_small = Some(small);
        self.timings.track = started.elapsed().saturating_sub(self.timings.detect.unwrap_or_default());

        let Some(track) = self.track.as_mut() else {
            self.steady.reset();
            self.roll.reset();
            return Ok(FaceResult { track: None, aligned: None });
        };
        let started = Instant::now();
        track.landmarks = match self.landmarks.as_mut() {
            Some(detector) => Some(detector.locate(frame, &gray, &track.bbox)?),
            None => None,
        };
        if track.landmarks.is_some() {
            self.timings.landmarks = Some(started.elapsed());
        }
        let started = Instant::now();
        let carried = CarriedAlignment {
            steady: &mut self.steady,
            roll: &mut self.roll,
            seconds: frame.time.seconds,
            motion: self.motion.as_ref(),
        };
        let aligned = self.aligner.align(&gray, track, Some(carried))?;
        self.timings.align = Some(started.elapsed());
        Ok(FaceResult { track: Some(track.clone()), aligned: Some(aligned) })
    }

    /// Updates `self.track` for the new working image.
    fn follow(&mut self, small: &Mat, scale: f32, frame_width: f32, frame_height: f32) -> Result<(), FaceError> {
        let mut tracked = None;
        if let (Some(track), Some(previous)) = (&self.track, &self.previous_small) {
            tracked = self.tracker.step(previous, small, &track.bbox, scale)?;
        }
        let inside = |b: &BoxF| {
            let (cx, cy) = b.centre();
            cx > 0.0 && cy > 0.0 && cx < frame_width && cy < frame_height && b.width > 8.0
        };
        let tracked = tracked.filter(|step| inside(&step.bbox));
        // The tracker's own motion, before any pull towards a detection below.
        self.motion = match (&self.track, &tracked) {
            (Some(track), Some(step)) => Some(box_motion(&track.bbox, &step.bbox)),
            _ => None,
        };

        let due = tracked.is_none() || self.since_detection + 1 >= self.config.redetect_every;
        if !due {
            self.since_detection += 1;
            if let (Some(track), Some(step)) = (self.track.as_mut(), tracked) {
                track.bbox = step.bbox;
                track.confidence = step.inlier_ratio;
                track.detected = false;
            }
            return Ok(());
        }

        self.since_detection = 0;
        let detect_started = Instant::now();
        let current = tracked.as_ref().map(|step| step.bbox);
        // The tracked face if the detector still sees it (looked for where it is first), else
        // the largest face in the whole image.
        let best_match = |detections: &[(BoxF, i32)]| {
            let bbox = current?;
            detections
                .iter()
                .map(|(det, votes)| (*det, *votes, det.iou(&bbox)))
                .filter(|(_, _, iou)| *iou > 0.3)
                .max_by(|a, b| a.2.total_cmp(&b.2))
        };
        let mut detections = match &current {
            Some(bbox) => self.detector.detect_near(small, scale, bbox)?,
            None => Vec::new(),
        };
        let mut matched = best_match(&detections);
        if matched.is_none() {
            detections = self.detector.detect(small, scale)?;
            matched = best_match(&detections);
        }
        self.timings.detect = Some(detect_started.elapsed());
        match (current, matched, &mut self.track) {
            (Some(bbox), Some((det, votes, _)), Some(track)) => {
                // Pull the tracked box toward the detection to undo drift without a jump.
                const PULL: f32 = 0.3;
                track.bbox = BoxF {
                    x: bbox.x + PULL * (det.x - bbox.x),
                    y: bbox.y + PULL * (det.y - bbox.y),
                    width: bbox.width + PULL * (det.width - bbox.width),
                    height: bbox.height + PULL * (det.height - bbox.height),
                };
                track.confidence = detection_confidence(votes).max(tracked.as_ref().map_or(0.0, |s| s.inlier_ratio));
                track.detected = true;
                self.missed_detections = 0;
            }
            (Some(bbox), None, Some(track)) if self.missed_detections + 1 < MAX_MISSED_DETECTIONS => {
                // Tracked but not confirmed: keep going with lowered trust.
                self.missed_detections += 1;
                track.bbox = bbox;
                track.confidence = tracked.as_ref().map_or(0.0, |s| s.inlier_ratio) * 0.5;
                track.detected = true;
            }
            _ => {
                self.missed_detections = 0;
                self.tracker.reset();
                self.motion = None;
                let largest = detections.iter().max_by(|a, b| a.0.area().total_cmp(&b.0.area()));
                self.track = largest.map(|(det, votes)| {
                    self.next_id += 1;
                    FaceTrack {
                        id: self.next_id,
                        bbox: *det,
                        landmarks: None,
                        confidence: detection_confidence(*votes),
                        detected: true,
                    }
                });
                if let Some(track) = &self.track {
                    self.tracker.seed(small, &track.bbox, scale)?;
                }
            }
        }
        Ok(())
    }
}

/// The similarity that moves box `from` onto box `to` (their centres and widths): how the tracker
/// saw the face move between two frames.
fn box_motion(from: &BoxF, to: &BoxF) -> Similarity {
    let zoom = to.width / from.width.max(1e-3);
    let ((fx, fy), (tx, ty)) = (from.centre(), to.centre());
    Similarity { a: zoom, b: 0.0, tx: tx - zoom * fx, ty: ty - zoom * fy }
}

/// The cascade's vote count mapped to 0..1: a handful of merged windows is a weak detection.
fn detection_confidence(votes: i32) -> f32 {
    (votes as f32 / 12.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_motion_carries_one_box_onto_the_next() {
        let from = BoxF { x: 100.0, y: 80.0, width: 120.0, height: 120.0 };
        let to = BoxF { x: 106.0, y: 77.0, width: 132.0, height: 132.0 };
        let motion = box_motion(&from, &to);
        for (p, q) in [((from.x, from.y), (to.x, to.y)), (from.centre(), to.centre())] {
            let moved = motion.apply([p.0, p.1]);
            assert!((moved[0] - q.0).abs() < 1e-3 && (moved[1] - q.1).abs() < 1e-3, "{moved:?} vs {q:?}");
        }
        assert_eq!(motion.b, 0.0, "the box tracker sees no roll");
    }

    #[test]
    fn iou_of_boxes() {
        let a = BoxF { x: 0.0, y: 0.0, width: 10.0, height: 10.0 };
        let b = BoxF { x: 5.0, y: 0.0, width: 10.0, height: 10.0 };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BoxF { x: 20.0, ..a }), 0.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
    }
}
