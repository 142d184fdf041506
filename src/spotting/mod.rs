//! Streaming micro-expression spotting on the motion stage's region signals.
//!
//! Per frame, each face region's motion (flow against the frame `lag_ms` earlier, head motion
//! removed) is compared with a running median and MAD of that region's recent quiet frames; the
//! score is the largest robust z-score over the regions that carry expressions (brows, nose,
//! mouth corners, chin; the eyes are left out so that blinks and gaze do not fire, and a blink's
//! spill into the brows is discounted by a share learnt from the face's own blinks). A score
//! above the sensitivity opens a candidate.
//!
//! While a candidate is open, the lag flows are chained (`D(t) = F(t) + D(ref(t))`) into each
//! region's displacement from the neutral face before the event. That displacement gives the
//! apex (its peak), the onset and offset (where it leaves and returns to a small fraction of the
//! peak) and tells a held expression (it stays away from neutral) from a finished one. An event
//! is reported once the motion has been quiet for `quiet_ms` and the face is back to neutral:
//! about `lag_ms + quiet_ms` after its offset, within the half-second look-ahead.
//!
//! Every parameter is in milliseconds or crop pixels, so the spotter behaves the same at 25 or
//! 60 fps. It sees the raw measurements; nothing here is smoothed.

mod stage;

pub use stage::{EventFrames, SpottingStage};

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use crate::motion::{FrameMotion, HeadMotion, Region, RegionSignals};

/// Micro (at most `micro_max_ms`) or macro expression. Displays and (de)serialises as
/// `micro` / `macro`, as the truth tables and `events.csv` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Micro,
    Macro,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Micro => "micro",
            EventKind::Macro => "macro",
        })
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "micro" => Ok(EventKind::Micro),
            "macro" => Ok(EventKind::Macro),
            other => Err(format!("unknown event type '{other}' (expected 'micro' or 'macro')")),
        }
    }
}

/// Regions whose motion counts towards the score. Eyes are excluded (blinks, gaze).
const SCORING: [Region; 6] = [Region::BrowR, Region::BrowL, Region::Nose, Region::MouthR, Region::MouthL, Region::Chin];

/// Each side's eye and brow, right then left: a blink's spill is taken off the brow.
const EYE_AND_BROW: [(Region, Region); 2] = [(Region::EyeR, Region::BrowR), (Region::EyeL, Region::BrowL)];

/// Two measures per region: the mean length of its flow vectors (`i`), which sees any motion,
/// and the length of its mean flow vector (`8 + i`), which averages noise away and so sees
/// weak coherent motion (a brow moving down as a whole) sooner.
const FEATURES: usize = 16;

fn features(regions: &RegionSignals) -> [f32; FEATURES] {
    let mut out = [0.0; FEATURES];
    for (i, r) in regions.values.iter().enumerate() {
        out[i] = r.magnitude;
        out[8 + i] = r.mean_u.hypot(r.mean_v);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SpotterConfig {
    /// Threshold on the robust z-score (region motion above its running median, in units of
    /// its running MAD-based spread). Lower is more sensitive.
    pub sensitivity: f32,
    /// The spread never counts as less than this (crop pixels): the absolute floor of the
    /// threshold is `sensitivity * noise_floor_px` above the median.
    pub noise_floor_px: f32,
    /// Length of the running statistic.
    pub baseline_ms: f64,
    /// Quiet frames needed before spotting starts.
    pub warmup_ms: f64,
    /// After the face was lost or unreliable, spotting waits this long: an expression already
    /// under way when the face came back has no neutral start to measure from.
    pub resume_ms: f64,
    /// An event ends after the score has stayed below the threshold this long.
    pub quiet_ms: f64,
    /// A candidate that has been quiet for `quiet_ms + reanchor_after_ms` without its face
    /// coming back to neutral has its displacement chain rebuilt from `anchor_ms` before its
    /// first frame above the threshold: the score may have crossed late (a weak rise, seen only
    /// on the return movement), and a chain started mid-expression never sees the face return.
    /// A held expression stays away from neutral on the rebuilt chain too.
    pub reanchor_after_ms: f64,
    pub anchor_ms: f64,
    /// A candidate is anchored at once when, measured from `anchor_ms` earlier, the face has
    /// fallen below this fraction of the displacement it had reached before the crossing.
    pub late_drop_fraction: f32,
    /// Weak but sustained motion counts too: a score above `sustained_fraction` of the
    /// threshold on every frame for `sustained_ms`. Noise rarely stays up that long (its frames
    /// are measured on different crops); a weak expression does.
    pub sustained_fraction: f32,
    pub sustained_ms: f64,
    /// And weak motion that dips: the mean score over the last `sustained_ms` above
    /// `mean_fraction` of the threshold (noise averages down; a weak expression does not).
    pub mean_fraction: f32,

    /// Onset and offset are where the displacement is within this fraction of its peak (above
    /// the level it settles at).
    pub edge_fraction: f32,
    /// The face is back to neutral when its displacement is below this fraction of the peak,
    /// or below the chain's own noise (`return_noise_factor` times the typical quiet-frame
    /// movement).
    pub return_fraction: f32,
    pub return_noise_factor: f32,
    /// Priors (CAS(ME)^2 and SAMM long videos): micro-expressions last 145-533 ms.
    pub min_duration_ms: f64,
    pub micro_max_ms: f64,
    /// Longer than this (a held expression, talking, a change of pose) is not an event.
    pub max_duration_ms: f64,
    /// Events less confident than this are not reported (counted as `low_confidence`): barely
    /// over the threshold and not fully back to neutral is mostly noise.
    pub min_confidence: f32,
    /// Share of the eye regions' motion taken off the brows (a blink moves the brows a little):
    /// at least this, or what this face's blinks show (`blink_quantile` of the brow/eye ratio
    /// over its last `blink_observations` blink frames; 0 keeps it fixed). How far a blink
    /// spills into the brows depends on the face and on the flow method (DIS about 0.2,
    /// flow.onnx v3 up to 0.65).
    pub blink_coupling: f32,
    pub blink_quantile: f32,
    pub blink_observations: usize,
    /// Head motion beyond these (between a frame and its reference) makes a frame unreliable:
    /// the head-motion fit is a 2-D affine, and a head turning out of plane leaves residual
    /// motion that looks like an expression.
    pub max_head_shift_px: f32,
    pub max_head_rotation_deg: f32,
}

impl Default for SpotterConfig {
    fn default() -> Self {
        Self {
            sensitivity: 8.0,
            noise_floor_px: 0.008,
            baseline_ms: 4000.0,
            warmup_ms: 1000.0,
            resume_ms: 300.0,
            quiet_ms: 150.0,
            reanchor_after_ms: 200.0,
            anchor_ms: 300.0,
            late_drop_fraction: 0.7,
            sustained_fraction: 0.5,
            sustained_ms: 100.0,
            mean_fraction: 0.625,
            edge_fraction: 0.05,
            return_fraction: 0.35,
            return_noise_factor: 3.0,
            min_duration_ms: 100.0,
            micro_max_ms: 500.0,
            max_duration_ms: 4000.0,
            min_confidence: 0.1,
            blink_coupling: 0.25,
            blink_quantile: 0.9,
            blink_observations: 64,
            max_head_shift_px: 2.0,
            max_head_rotation_deg: 1.5,
        }
    }
}

/// A moment of an event: the frame's 0-based index and its stream time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EventMark {
    pub index: u64,
    pub seconds: f64,
}

impl EventMark {
    /// 1-based, as `frames.csv` numbers frames.
    pub fn frame_number(&self) -> u64 {
        self.index + 1
    }

    pub fn ms(&self) -> f64 {
        self.seconds * 1000.0
    }
}

/// A spotted expression.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpotEvent {
    /// 1, 2, ... in the order events are found.
    pub id: u32,
    pub kind: EventKind,
    pub onset: EventMark,
    pub apex: EventMark,
    pub offset: EventMark,
    /// 0..1: how far above the threshold the motion went (`sqrt(1 - 1/e)` for evidence `e`
    /// times the threshold: 0 at the threshold, towards 1 far above it), times how completely
    /// the face returned to neutral.
    pub confidence: f32,
    /// Highest z-score inside the event.
    pub peak_score: f32,
    /// Each region's displacement from the neutral face at the apex (crop pixels, `(u, v)`, +v
    /// down), in [`Region::ALL`] order.
    pub apex_displacement: [[f32; 2]; 8],
}

impl SpotEvent {
    pub fn duration_ms(&self) -> f64 {
        (self.offset.seconds - self.onset.seconds) * 1000.0
    }
}

/// What the spotter says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct SpotSample {
    /// The largest robust z-score over the scoring regions; `None` on frames it cannot judge.
    pub score: Option<f32>,
    /// The threshold the score is compared with (the sensitivity).
    pub threshold: f32,
    /// A candidate event is open.
    pub active: bool,
    /// The running statistic has enough quiet frames; no spotting before.
    pub ready: bool,
    /// The region the score came from.
    pub region: Option<Region>,
}

/// The neutral-baseline calibration: a few seconds of a neutral face set each region's noise
/// floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    None,
    Running {
        until_seconds: f64,
        started_seconds: f64,
    },
    /// Each region's spread (crop pixels; flow length, then mean-vector length) measured on
    /// the neutral face.
    Done {
        spread_px: [f32; FEATURES],
    },
}

impl Calibration {
    /// 0..1 through a running calibration.
    pub fn progress(&self, now_seconds: f64) -> Option<f32> {
        match *self {
            Calibration::Running { until_seconds, started_seconds } => {
                let span = (until_seconds - started_seconds).max(1e-6);
                Some((((now_seconds - started_seconds) / span) as f32).clamp(0.0, 1.0))
            }
            _ => None,
        }
    }
}

/// Why a candidate ended without an event (counted, for the summary and tuning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpotterCounters {
    pub frames: u64,
    pub unreliable_frames: u64,
    pub candidates: u64,
    pub events: u64,
    /// Longer than `max_duration_ms` (held expression, talking, pose change).
    pub too_long: u64,
    /// Shorter than `min_duration_ms`.
    pub too_short: u64,
    /// The face was lost or became unreliable during the candidate.
    pub interrupted: u64,
    /// Below `min_confidence`, or no displacement beyond the chain's noise.
    pub low_confidence: u64,
}

#[derive(Debug, Clone)]
struct Record {
    index: u64,
    seconds: f64,
    reference_index: u64,
    /// Each region's mean flow against the frame's own reference.
    flow: [[f32; 2]; 8],
    /// Displacement of each region: from the neutral face (the chain's anchor) while a
    /// candidate is open, else the frame's own flow.
    displacement: [[f32; 2]; 8],
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Index in `recent` terms: the first frame above the threshold.
    first_above: EventMark,
    /// Where the displacement chain starts (the face taken as neutral): the first frame above
    /// the threshold, or `anchor_ms` before it once re-anchored.
    anchor_seconds: f64,
    last_above_seconds: f64,
    peak_score: f32,
    /// Largest evidence (score over its rule's threshold; >= 1 on frames that were above).
    peak_evidence: f32,
    peak_displacement: f32,
}

impl Candidate {
    /// Its chain was moved back to `anchor_ms` before its first frame above the threshold.
    fn is_reanchored(&self) -> bool {
        self.anchor_seconds < self.first_above.seconds
    }
}

/// The streaming spotter. Feed it every frame in order with [`Spotter::push`].
pub struct Spotter {
    config: SpotterConfig,
    /// Quiet, reliable frames' region magnitudes for the running statistic, with the size of
    /// their (unchained) displacement.
    quiet: VecDeque<(f64, [f32; FEATURES], f32)>,
    /// Recent frames (enough for the longest event plus look-back).
    recent: VecDeque<Record>,
    candidate: Option<Candidate>,
    calibration: Calibration,
    calibration_samples: Vec<[f32; FEATURES]>,
    /// Start of the current run of reliable frames.
    reliable_since: Option<f64>,
    /// Start of the current run of frames above the sustained level, and its lowest score.
    weak_since: Option<f64>,
    weak_min: f32,
    /// The scores of the last `sustained_ms` of ready frames, for the mean rule.
    recent_scores: VecDeque<(f64, f32)>,
    scores_cover_window: bool,
    next_id: u32,
    counters: SpotterCounters,
    scratch: Vec<f32>,
    /// Per side (right, left) and per measure (mean length, length of the mean): the brow/eye
    /// ratios of recent blink frames, and the coupling they give.
    blink_ratios: [[VecDeque<f32>; 2]; 2],
    blink_coupling: [[f32; 2]; 2],
}

impl Spotter {
    pub fn new(config: SpotterConfig) -> Self {
        Self {
            config,
            quiet: VecDeque::new(),
            recent: VecDeque::new(),
            candidate: None,
            calibration: Calibration::None,
            calibration_samples: Vec::new(),
            reliable_since: None,
            weak_since: None,
            weak_min: f32::INFINITY,
            recent_scores: VecDeque::new(),
            scores_cover_window: false,
            next_id: 1,
            counters: SpotterCounters::default(),
            scratch: Vec::new(),
            blink_ratios: Default::default(),
            blink_coupling: [[config.blink_coupling; 2]; 2],
        }
    }

    pub fn config(&self) -> &SpotterConfig {
        &self.config
    }

    pub fn set_sensitivity(&mut self, sensitivity: f32) {
        self.config.sensitivity = sensitivity.max(1.0);
    }

    pub fn counters(&self) -> SpotterCounters {
        self.counters
    }

    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Starts a neutral-baseline calibration over the next `duration_ms` of reliable frames
    /// (from the next frame's time on). No events are spotted meanwhile.
    pub fn start_calibration(&mut self, now_seconds: f64, duration_ms: f64) {
        self.candidate = None;
        self.calibration_samples.clear();
        self.calibration =
            Calibration::Running { started_seconds: now_seconds, until_seconds: now_seconds + duration_ms / 1000.0 };
    }

    pub fn clear_calibration(&mut self) {
        self.calibration = Calibration::None;
        self.calibration_samples.clear();
    }

    /// One frame. `motion` is `None` when the face is lost, unreliable or has no history yet.
    /// Returns the frame's sample and, when one has just ended, an event.
    pub fn push(&mut self, index: u64, seconds: f64, motion: Option<&FrameMotion>) -> (SpotSample, Option<SpotEvent>) {
        self.counters.frames += 1;
        let threshold = self.config.sensitivity;
        let usable = motion.filter(|m| self.head_is_steady(&m.measurement.head));
        let Some(motion) = usable else {
            self.counters.unreliable_frames += 1;
            if self.candidate.take().is_some() {
                self.counters.interrupted += 1;
            }
            // A gap breaks the displacement chain.
            self.recent.clear();
            self.reliable_since = None;
            self.weak_since = None;
            self.recent_scores.clear();
            self.scores_cover_window = false;
            return (SpotSample { score: None, threshold, active: false, ready: self.is_ready(), region: None }, None);
        };
        let regions = &motion.measurement.regions;
        let magnitudes = features(regions);

        if let Calibration::Running { until_seconds, .. } = self.calibration {
            self.calibration_samples.push(magnitudes);
            if seconds >= until_seconds {
                self.finish_calibration();
            }
            let size = self.record(index, seconds, regions, motion.reference_index, false);
            self.remember_quiet(seconds, magnitudes, size);
            return (SpotSample { score: None, threshold, active: false, ready: false, region: None }, None);
        }

        let since = *self.reliable_since.get_or_insert(seconds);
        let ready = self.is_ready() && (seconds - since) * 1000.0 >= self.config.resume_ms;
        let (score, region) = if ready { self.score(&magnitudes) } else { (0.0, None) };
        let weak = ready && score > self.config.sustained_fraction * threshold;
        let weak_since = if weak { *self.weak_since.get_or_insert(seconds) } else { seconds };
        if weak {
            self.weak_min = if weak_since == seconds { score } else { self.weak_min.min(score) };
        } else {
            self.weak_since = None;
        }
        // A frame period's slack: the run from t0 to t spans (n - 1) frame periods.
        let sustained = weak && (seconds - weak_since) * 1000.0 >= self.config.sustained_ms * 0.99;
        let mean = if ready { self.mean_recent_score(seconds, score) } else { None };
        let mean_level = self.config.mean_fraction * threshold;
        let above = ready && (score > threshold || sustained || mean.is_some_and(|m| m > mean_level));
        // How far above its rule the frame is, in units of the threshold: a sustained run
        // counts by its weakest frame against the sustained level, a window by its mean.
        let mut evidence = score / threshold;
        if sustained {
            evidence = evidence.max(self.weak_min / (self.config.sustained_fraction * threshold));
        }
        if let Some(mean) = mean {
            evidence = evidence.max(mean / mean_level);
        }
        if above && self.candidate.is_none() {
            self.counters.candidates += 1;
            let early_anchor = seconds - self.config.anchor_ms / 1000.0;
            let noise = self.return_noise();
            // The score crossed on the way back: the chain starts `anchor_ms` earlier at once.
            let late_chain = self.chain_from(early_anchor).filter(|(_, chained)| self.falling_back(chained, noise));
            let late = late_chain.is_some();
            let peak_displacement = late_chain.map_or(0.0, |(start, chained)| self.store_chain(start, chained));
            self.candidate = Some(Candidate {
                first_above: EventMark { index, seconds },
                anchor_seconds: if late { early_anchor } else { seconds },
                last_above_seconds: seconds,
                peak_score: score,
                peak_evidence: evidence,
                peak_displacement,
            });
        }
        let chained = self.candidate.is_some();
        let displacement = self.record(index, seconds, regions, motion.reference_index, chained);
        if !chained && !above {
            self.remember_quiet(seconds, magnitudes, displacement);
        }

        let mut event = None;
        if let Some(mut candidate) = self.candidate.take() {
            // Only an open candidate needs the neutral level (a median over the quiet frames).
            let return_level = self.return_noise();
            if above {
                candidate.last_above_seconds = seconds;
                candidate.peak_score = candidate.peak_score.max(score);
                candidate.peak_evidence = candidate.peak_evidence.max(evidence);
            }
            candidate.peak_displacement = candidate.peak_displacement.max(displacement);
            let quiet_for_ms = (seconds - candidate.last_above_seconds) * 1000.0;
            let open_for_ms = (seconds - candidate.first_above.seconds) * 1000.0;
            let return_fraction = self.config.return_fraction;
            let neutral_level = |c: &Candidate| (return_fraction * c.peak_displacement).max(return_level);
            let mut displacement = displacement;
            if !candidate.is_reanchored()
                && quiet_for_ms >= self.config.quiet_ms + self.config.reanchor_after_ms
                && displacement > neutral_level(&candidate)
            {
                candidate.anchor_seconds = candidate.first_above.seconds - self.config.anchor_ms / 1000.0;
                candidate.peak_displacement = self.anchor_chain(candidate.anchor_seconds);
                displacement = self.recent.back().map_or(displacement, |r| peak_displacement(&r.displacement));
            }
            if quiet_for_ms >= self.config.quiet_ms && displacement <= neutral_level(&candidate) {
                event = self.close(&candidate, return_level);
            } else if open_for_ms > self.config.max_duration_ms {
                self.counters.too_long += 1;
            } else {
                self.candidate = Some(candidate);
            }
        }
        let sample = SpotSample { score: ready.then_some(score), threshold, active: self.candidate.is_some(), ready, region };
        (sample, event)
    }

    /// The end of the stream: an open candidate that has gone quiet is closed as it stands.
    pub fn finish(&mut self) -> Option<SpotEvent> {
        let candidate = self.candidate.take()?;
        let last = self.recent.back()?.seconds;
        if (last - candidate.last_above_seconds) * 1000.0 < self.config.quiet_ms / 2.0 {
            self.counters.interrupted += 1;
            return None;
        }
        let noise_level = self.return_noise();
        self.close(&candidate, noise_level)
    }

    /// Adds the frame's score and returns the mean over the frames of the last
    /// `sustained_ms`, once the scores reach back further than that.
    fn mean_recent_score(&mut self, seconds: f64, score: f32) -> Option<f32> {
        self.recent_scores.push_back((seconds, score));
        let window_ms = self.config.sustained_ms * 1.01;
        let mut covered = false;
        while self.recent_scores.front().is_some_and(|(t, _)| (seconds - t) * 1000.0 > window_ms) {
            self.recent_scores.pop_front();
            covered = true;
        }
        self.scores_cover_window |= covered;
        self.scores_cover_window.then(|| self.recent_scores.iter().map(|(_, s)| s).sum::<f32>() / self.recent_scores.len() as f32)
    }

    fn head_is_steady(&self, head: &HeadMotion) -> bool {
        head.tx.hypot(head.ty) <= self.config.max_head_shift_px && head.rotation_deg.abs() <= self.config.max_head_rotation_deg
    }

    fn is_ready(&self) -> bool {
        match (self.quiet.front(), self.quiet.back()) {
            (Some(first), Some(last)) => {
                (last.0 - first.0) * 1000.0 >= self.config.warmup_ms || matches!(self.calibration, Calibration::Done { .. })
            }
            _ => false,
        }
    }

    fn remember_quiet(&mut self, seconds: f64, magnitudes: [f32; FEATURES], size: f32) {
        self.quiet.push_back((seconds, magnitudes, size));
        while self.quiet.front().is_some_and(|(t, _, _)| (seconds - t) * 1000.0 > self.config.baseline_ms) {
            self.quiet.pop_front();
        }
    }

    /// Displacement that counts as neutral: the chained displacement carries the noise of each
    /// link, a few times a quiet frame's own.
    fn return_noise(&mut self) -> f32 {
        self.scratch.clear();
        self.scratch.extend(self.quiet.iter().map(|(_, _, size)| *size));
        self.config.return_noise_factor * median_in_place(&mut self.scratch).max(self.config.noise_floor_px)
    }

    /// Median and robust spread (1.4826 MAD) of one feature over the quiet frames.
    fn statistic(&mut self, feature: usize) -> (f32, f32) {
        self.scratch.clear();
        self.scratch.extend(self.quiet.iter().map(|(_, m, _)| m[feature]));
        robust_statistic(&mut self.scratch)
    }

    fn floor(&self, feature: usize) -> f32 {
        match self.calibration {
            Calibration::Done { spread_px } => spread_px[feature].max(self.config.noise_floor_px),
            _ => self.config.noise_floor_px,
        }
    }

    fn score(&mut self, values: &[f32; FEATURES]) -> (f32, Option<Region>) {
        let mut excess = [0.0f32; FEATURES];
        let mut spread = [1.0f32; FEATURES];
        for feature in 0..FEATURES {
            let (median, sigma) = self.statistic(feature);
            excess[feature] = values[feature] - median;
            spread[feature] = sigma.max(self.floor(feature));
        }
        for (measure, offset) in [0, 8].into_iter().enumerate() {
            for (side, (eye, brow)) in EYE_AND_BROW.into_iter().enumerate() {
                let (eye, brow) = (offset + eye as usize, offset + brow as usize);
                let eye_excess = excess[eye].max(0.0);
                // A blink: the eye moves clearly, and more than its brow (a brow expression
                // moves the brow more), so the ratio says how much of the brow's motion it is.
                let eye_clear = eye_excess > self.config.sensitivity * spread[eye];
                if eye_clear && excess[brow] > 0.0 && excess[brow] < eye_excess {
                    self.observe_blink(measure, side, excess[brow] / eye_excess);
                }
                excess[brow] -= self.blink_coupling[measure][side] * eye_excess;
            }
        }
        // Speech and other jaw movement move the chin at least as much as the mouth corners; a
        // mouth micro-expression moves the corners more. While the jaw leads, the lower face
        // does not score (brows and nose still do).
        let jaw_leads = excess[Region::Chin as usize] > 0.0
            && excess[Region::Chin as usize] >= excess[Region::MouthR as usize].max(excess[Region::MouthL as usize]);
        let mut best = (f32::NEG_INFINITY, None);
        for region in SCORING {
            if jaw_leads && matches!(region, Region::MouthR | Region::MouthL | Region::Chin) {
                continue;
            }
            for feature in [region as usize, 8 + region as usize] {
                let z = excess[feature] / spread[feature];
                if z > best.0 {
                    best = (z, Some(region));
                }
            }
        }
        best
    }

    fn observe_blink(&mut self, measure: usize, side: usize, ratio: f32) {
        if self.config.blink_observations == 0 {
            return;
        }
        let ratios = &mut self.blink_ratios[measure][side];
        if ratios.len() >= self.config.blink_observations {
            ratios.pop_front();
        }
        ratios.push_back(ratio);
        self.scratch.clear();
        self.scratch.extend(ratios.iter().copied());
        self.scratch.sort_unstable_by(f32::total_cmp);
        let at = ((self.scratch.len() - 1) as f32 * self.config.blink_quantile.clamp(0.0, 1.0)).round() as usize;
        self.blink_coupling[measure][side] = self.scratch[at].max(self.config.blink_coupling);
    }

    /// Adds the frame to `recent`; returns its displacement magnitude (the largest over the
    /// scoring regions).
    fn record(&mut self, index: u64, seconds: f64, regions: &RegionSignals, reference_index: u64, chained: bool) -> f32 {
        let flow = regions.values.map(|r| [r.mean_u, r.mean_v]);
        let mut displacement = flow;
        if chained && let Some(reference) = self.recent.iter().rev().find(|r| r.index == reference_index) {
            add_displacement(&mut displacement, &reference.displacement);
        }
        let size = peak_displacement(&displacement);
        self.recent.push_back(Record { index, seconds, reference_index, flow, displacement });
        let keep_ms = self.config.max_duration_ms + 1000.0;
        while self.recent.front().is_some_and(|r| (seconds - r.seconds) * 1000.0 > keep_ms) {
            self.recent.pop_front();
        }
        size
    }

    /// The displacement chain of the recent frames from `since_seconds` on, taking the face as
    /// neutral just before it: frames whose reference is older start the chain with their own
    /// flow. Returns the position in `recent` of its first frame and the chained displacements.
    fn chain_from(&self, since_seconds: f64) -> Option<(usize, Vec<[[f32; 2]; 8]>)> {
        let start = self.recent.iter().position(|r| r.seconds >= since_seconds)?;
        let anchor_index = self.recent[start].index;
        let mut chained: Vec<[[f32; 2]; 8]> = Vec::with_capacity(self.recent.len() - start);
        for i in start..self.recent.len() {
            let record = &self.recent[i];
            let mut displacement = record.flow;
            if record.reference_index >= anchor_index
                && let Some(j) = (start..i).rev().find(|&j| self.recent[j].index == record.reference_index)
            {
                add_displacement(&mut displacement, &chained[j - start]);
            }
            chained.push(displacement);
        }
        Some((start, chained))
    }

    /// Rebuilds the chain from `since_seconds` on (see [`Self::chain_from`]); returns the
    /// largest displacement of the rebuilt frames.
    fn anchor_chain(&mut self, since_seconds: f64) -> f32 {
        self.chain_from(since_seconds).map_or(0.0, |(start, chained)| self.store_chain(start, chained))
    }

    /// Stores a chain from [`Self::chain_from`] as the recent frames' displacements; returns
    /// its largest displacement.
    fn store_chain(&mut self, start: usize, chained: Vec<[[f32; 2]; 8]>) -> f32 {
        let mut peak = 0.0f32;
        for (record, displacement) in self.recent.range_mut(start..).zip(chained) {
            peak = peak.max(peak_displacement(&displacement));
            record.displacement = displacement;
        }
        peak
    }

    /// On a chain from `anchor_ms` earlier, the face had already moved away and is returning:
    /// its displacement has fallen well below the peak it reached before this frame.
    fn falling_back(&self, chained: &[[[f32; 2]; 8]], return_level: f32) -> bool {
        let sizes: Vec<f32> = chained.iter().map(peak_displacement).collect();
        let (Some(&last), Some(peak)) = (sizes.last(), sizes.iter().copied().reduce(f32::max)) else { return false };
        peak > return_level && last < self.config.late_drop_fraction * peak
    }

    fn finish_calibration(&mut self) {
        let mut spread_px = [0.0f32; FEATURES];
        let mut column = Vec::with_capacity(self.calibration_samples.len());
        for (feature, spread) in spread_px.iter_mut().enumerate() {
            column.clear();
            column.extend(self.calibration_samples.iter().map(|m| m[feature]));
            *spread = robust_statistic(&mut column).1;
        }
        self.calibration = Calibration::Done { spread_px };
        self.calibration_samples.clear();
    }

    /// Turns a finished candidate into an event: apex at the displacement peak, onset and
    /// offset where the displacement is within `edge_fraction` of it.
    /// `noise_level` is the displacement that counts as neutral ([`Self::return_noise`]).
    fn close(&mut self, candidate: &Candidate, noise_level: f32) -> Option<SpotEvent> {
        let look_back = candidate.first_above.seconds - self.config.micro_max_ms / 1000.0;
        let frames: Vec<&Record> = self.recent.iter().filter(|r| r.seconds >= look_back).collect();
        let first = frames.iter().position(|r| r.index == candidate.first_above.index)?;
        let anchor = frames.iter().position(|r| r.seconds >= candidate.anchor_seconds).unwrap_or(first).min(first);
        let sizes: Vec<f32> = frames.iter().map(|r| peak_displacement(&r.displacement)).collect();
        let (apex, &peak) = sizes.iter().enumerate().skip(anchor).max_by(|a, b| a.1.total_cmp(b.1))?;
        // Each side's edge is measured above the level that side settles at: neutral before the
        // onset, the chain's leftover noise after the offset (the frames since the motion ended).
        let last_above = frames.iter().rposition(|r| r.seconds <= candidate.last_above_seconds).unwrap_or(apex);
        let mut tail: Vec<f32> = sizes[(last_above + 1).min(sizes.len())..].to_vec();
        let settled = if tail.is_empty() { 0.0 } else { median_in_place(&mut tail) }.min(peak);
        let mut before: Vec<f32> = sizes[..anchor].to_vec();
        let start_level = if before.is_empty() { 0.0 } else { median_in_place(&mut before) }.min(peak);
        let edge_on = start_level + self.config.edge_fraction * (peak - start_level);
        let edge_off = settled + self.config.edge_fraction * (peak - settled);
        let onset = (0..apex).rev().find(|&i| sizes[i] <= edge_on).unwrap_or(0);
        let offset = (apex + 1..frames.len()).find(|&i| sizes[i] <= edge_off).unwrap_or(frames.len() - 1);
        let mark = |i: usize| EventMark { index: frames[i].index, seconds: frames[i].seconds };
        let (onset, apex_mark, offset_mark) = (mark(onset), mark(apex), mark(offset));
        let duration_ms = (offset_mark.seconds - onset.seconds) * 1000.0;
        if duration_ms < self.config.min_duration_ms {
            self.counters.too_short += 1;
            return None;
        }
        if duration_ms > self.config.max_duration_ms {
            self.counters.too_long += 1;
            return None;
        }
        // A face that never moved beyond the chain's own noise made no expression.
        if peak <= noise_level {
            self.counters.low_confidence += 1;
            return None;
        }
        let returned = 1.0 - (sizes[sizes.len() - 1] / peak.max(1e-6)).min(1.0);
        let strength = 1.0 - 1.0 / candidate.peak_evidence.max(1.0);
        let confidence = (strength.sqrt() * returned).clamp(0.0, 1.0);
        if confidence < self.config.min_confidence {
            self.counters.low_confidence += 1;
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.counters.events += 1;
        Some(SpotEvent {
            id,
            kind: if duration_ms <= self.config.micro_max_ms { EventKind::Micro } else { EventKind::Macro },
            onset,
            apex: apex_mark,
            offset: offset_mark,
            confidence,
            peak_score: candidate.peak_score,
            apex_displacement: frames[apex].displacement,
        })
    }
}

fn add_displacement(to: &mut [[f32; 2]; 8], base: &[[f32; 2]; 8]) {
    for (d, b) in to.iter_mut().zip(base) {
        d[0] += b[0];
        d[1] += b[1];
    }
}

fn peak_displacement(displacement: &[[f32; 2]; 8]) -> f32 {
    SCORING.iter().map(|&r| displacement[r as usize][0].hypot(displacement[r as usize][1])).fold(0.0, f32::max)
}

/// Median and robust spread (1.4826 MAD, the standard deviation for Gaussian data) of
/// `values`, which are overwritten.
fn robust_statistic(values: &mut [f32]) -> (f32, f32) {
    let median = median_in_place(values);
    for value in values.iter_mut() {
        *value = (*value - median).abs();
    }
    (median, 1.4826 * median_in_place(values))
}

/// Median of `values` (reordered); 0 when empty.
fn median_in_place(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    let upper = *upper;
    if values.len() % 2 == 1 {
        upper
    } else {
        let lower = values[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lower + upper) / 2.0
    }
}

#[cfg(test)]
mod tests;
