//! Seeded planning of expression events, blinks and head motion.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::face::{Au, basis_index};
use super::{Emotion, EventKind, SynthError, SynthSpec, TruthEvent};

const SALT_EVENTS: u64 = 0x9E37_79B9_7F4A_7C15;
const SALT_BLINKS: u64 = 0xB1_1AC5_D00D_F00D;
const SALT_HEAD: u64 = 0x4EAD_0000_5EED_1234;

/// Lead-in before the first event (baseline for a spotter), minimum gap between events and
/// tail after the last one, in seconds.
pub const LEAD_S: f64 = 1.5;
pub const GAP_S: f64 = 1.0;
pub const TAIL_S: f64 = 0.5;
pub const MICRO_MS: (f64, f64) = (150.0, 500.0);
pub const MACRO_MS: (f64, f64) = (800.0, 3000.0);
pub const MICRO_AMP: (f32, f32) = (0.5, 3.0);
pub const MACRO_AMP: (f32, f32) = (3.0, 8.0);

/// An AU pattern an event can use.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    /// Dataset notation, bilateral.
    name: &'static str,
    /// (AU, relative weight).
    aus: &'static [(Au, f32)],
    emotion: Emotion,
    /// Whether this event is one-sided (side drawn at random).
    one_sided: bool,
}

const P_12: Pattern = Pattern { name: "12", aus: &[(Au::Au12, 1.0)], emotion: Emotion::Positive, one_sided: false };
const P_6_12: Pattern =
    Pattern { name: "6+12", aus: &[(Au::Au6, 0.6), (Au::Au12, 1.0)], emotion: Emotion::Positive, one_sided: false };
const P_1_2: Pattern =
    Pattern { name: "1+2", aus: &[(Au::Au1, 1.0), (Au::Au2, 1.0)], emotion: Emotion::Surprise, one_sided: false };
const P_4: Pattern = Pattern { name: "4", aus: &[(Au::Au4, 1.0)], emotion: Emotion::Negative, one_sided: false };
const P_9: Pattern = Pattern { name: "9", aus: &[(Au::Au9, 1.0)], emotion: Emotion::Negative, one_sided: false };
const P_4_9: Pattern =
    Pattern { name: "4+9", aus: &[(Au::Au4, 0.8), (Au::Au9, 1.0)], emotion: Emotion::Negative, one_sided: false };
const P_14: Pattern = Pattern { name: "14", aus: &[(Au::Au14, 1.0)], emotion: Emotion::Negative, one_sided: false };
const P_15: Pattern = Pattern { name: "15", aus: &[(Au::Au15, 1.0)], emotion: Emotion::Negative, one_sided: false };

const fn one_sided(p: Pattern) -> Pattern {
    Pattern { one_sided: true, ..p }
}

const MICRO_DECK: [Pattern; 10] = [P_1_2, P_4, P_9, P_4_9, P_12, P_6_12, P_14, P_15, one_sided(P_12), one_sided(P_14)];
const MACRO_DECK: [Pattern; 9] = [P_6_12, P_12, P_1_2, P_4_9, P_4, P_15, P_9, P_14, one_sided(P_12)];

/// A planned expression event: the truth row plus what the renderer needs.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    pub truth: TruthEvent,
    /// 0-based frame indices: onset (intensity 0), start and end of the apex plateau
    /// (intensity 1; equal for micro-expressions), offset (intensity 0).
    pub onset: u64,
    pub hold_start: u64,
    pub hold_end: u64,
    pub offset: u64,
    /// (basis index, relative weight) before amplitude normalisation.
    pub raw_components: Vec<(usize, f32)>,
    /// (basis index, coefficient) such that the sum of coefficient * basis has a peak
    /// magnitude of `amplitude_px` (filled in by the face once the bases exist).
    pub components: Vec<(usize, f32)>,
}

impl PlannedEvent {
    /// Temporal profile in [0, 1] at 0-based frame index `i` (raised-cosine rise and fall).
    pub fn intensity(&self, i: u64) -> f32 {
        if i <= self.onset || i >= self.offset {
            return 0.0;
        }
        let rc = |x: f64| (0.5 - 0.5 * (std::f64::consts::PI * x).cos()) as f32;
        if i < self.hold_start {
            rc((i - self.onset) as f64 / (self.hold_start - self.onset) as f64)
        } else if i <= self.hold_end {
            1.0
        } else {
            rc((self.offset - i) as f64 / (self.offset - self.hold_end) as f64)
        }
    }
}

/// A planned blink: closure rises from `start` to `peak` and falls to `end` (0-based indices;
/// closure is 0 at `start` and `end`).
#[derive(Debug, Clone, Copy)]
pub struct Blink {
    pub start: u64,
    pub peak: u64,
    pub end: u64,
    pub depth: f32,
}

impl Blink {
    pub fn closure(&self, i: u64) -> f32 {
        if i <= self.start || i >= self.end {
            return 0.0;
        }
        let rc = |x: f64| (0.5 - 0.5 * (std::f64::consts::PI * x).cos()) as f32;
        let c = if i <= self.peak {
            rc((i - self.start) as f64 / (self.peak - self.start) as f64)
        } else {
            rc((self.end - i) as f64 / (self.end - self.peak) as f64)
        };
        c * self.depth
    }
}

fn frames_ceil(seconds: f64, fps: f64) -> u64 {
    (seconds * fps - 1e-9).ceil().max(0.0) as u64
}

/// Plans all expression events for `spec` (validated by the caller).
pub fn plan_events(spec: &SynthSpec, frame_count: u64) -> Result<Vec<PlannedEvent>, SynthError> {
    let fps = spec.fps;
    let n = spec.micro_events + spec.macro_events;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ SALT_EVENTS);
    // Micro durations must be representable with distinct onset, apex and offset frames.
    let micro_min = ((MICRO_MS.0 * fps / 1000.0) - 1e-9).ceil().max(2.0) as u64;
    let micro_max = ((MICRO_MS.1 * fps / 1000.0) + 1e-9).floor() as u64;
    if spec.micro_events > 0 && micro_min > micro_max {
        return Err(SynthError::Spec(format!(
            "fps {fps} is too low for micro-expressions: a 150-500 ms event needs distinct onset, apex and \
             offset frames (fps >= 4)"
        )));
    }
    let macro_min = ((MACRO_MS.0 * fps / 1000.0) - 1e-9).ceil().max(2.0) as u64;
    let macro_max = ((MACRO_MS.1 * fps / 1000.0) + 1e-9).floor().max(macro_min as f64) as u64;

    let mut kinds: Vec<EventKind> = std::iter::repeat_n(EventKind::Micro, spec.micro_events)
        .chain(std::iter::repeat_n(EventKind::Macro, spec.macro_events))
        .collect();
    kinds.shuffle(&mut rng);
    let durations: Vec<u64> = kinds
        .iter()
        .map(|k| match k {
            EventKind::Micro => {
                let ms = rng.random_range(MICRO_MS.0..=MICRO_MS.1);
                ((ms * fps / 1000.0).round() as u64).clamp(micro_min, micro_max)
            }
            EventKind::Macro => {
                let ms = rng.random_range(MACRO_MS.0..=MACRO_MS.1);
                ((ms * fps / 1000.0).round() as u64).clamp(macro_min, macro_max)
            }
        })
        .collect();

    let lead = frames_ceil(LEAD_S, fps);
    let gap = frames_ceil(GAP_S, fps);
    let tail = frames_ceil(TAIL_S, fps);
    // The minimum over all possible duration draws, so that success does not depend on the seed.
    let min_total: u64 =
        lead + tail + gap * (n as u64 - 1) + spec.micro_events as u64 * micro_min + spec.macro_events as u64 * macro_min;
    let total: u64 = lead + tail + gap * (n as u64 - 1) + durations.iter().sum::<u64>();
    let last = frame_count.saturating_sub(1);
    if min_total > last {
        return Err(SynthError::TooManyEvents {
            micro: spec.micro_events,
            macro_: spec.macro_events,
            seconds: spec.seconds,
            fps,
            needed_s: (min_total + 1) as f64 / fps,
        });
    }
    // If the drawn durations do not fit, shrink them (longest first) towards their minimum.
    let mut durations = durations;
    let mut excess = total.saturating_sub(last);
    while excess > 0 {
        let mut best: Option<usize> = None;
        for (j, d) in durations.iter().enumerate() {
            let min = if kinds[j] == EventKind::Micro { micro_min } else { macro_min };
            if *d > min && best.is_none_or(|b| *d > durations[b]) {
                best = Some(j);
            }
        }
        match best {
            Some(j) => {
                durations[j] -= 1;
                excess -= 1;
            }
            None => break,
        }
    }
    let total: u64 = lead + tail + gap * (n as u64 - 1) + durations.iter().sum::<u64>();
    let slack = last.saturating_sub(total);
    // Distribute the slack over the n+1 spaces with Dirichlet(1) weights.
    let weights: Vec<f64> = (0..=n).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let wsum: f64 = weights.iter().sum();
    let alloc: Vec<u64> = weights.iter().map(|w| ((slack as f64) * w / wsum).floor() as u64).collect();

    let mut micro_deck: Vec<Pattern> = Vec::new();
    let mut macro_deck: Vec<Pattern> = Vec::new();
    let draw = |deck: &mut Vec<Pattern>, src: &[Pattern], rng: &mut ChaCha8Rng| -> Pattern {
        if deck.is_empty() {
            deck.extend_from_slice(src);
            deck.shuffle(rng);
        }
        deck.pop().unwrap_or(P_12)
    };

    let mut events = Vec::with_capacity(n);
    let mut t = lead + alloc[0];
    for (j, kind) in kinds.iter().enumerate() {
        let d = durations[j];
        let onset = t;
        let offset = onset + d;
        let (hold_start, hold_end) = match kind {
            EventKind::Micro => {
                let frac = rng.random_range(0.3..=0.6);
                let a = (onset + (frac * d as f64).round() as u64).clamp(onset + 1, offset - 1);
                (a, a)
            }
            EventKind::Macro => {
                let rise = rng.random_range(0.2..=0.35);
                let hold = rng.random_range(0.15..=0.35);
                let hs = (onset + (rise * d as f64).round() as u64).clamp(onset + 1, offset - 1);
                let he = (hs + (hold * d as f64).round() as u64).clamp(hs, offset - 1);
                (hs, he)
            }
        };
        let apex = (hold_start + hold_end) / 2;
        let (amp_lo, amp_hi, pattern) = match kind {
            EventKind::Micro => (MICRO_AMP.0, MICRO_AMP.1, draw(&mut micro_deck, &MICRO_DECK, &mut rng)),
            EventKind::Macro => (MACRO_AMP.0, MACRO_AMP.1, draw(&mut macro_deck, &MACRO_DECK, &mut rng)),
        };
        let amplitude = (rng.random_range(amp_lo..=amp_hi) * 100.0).round() / 100.0;
        let left_side: bool = rng.random();
        let side = pattern.one_sided.then_some(if left_side { 'L' } else { 'R' });
        let ms = |i: u64| i as f64 * 1000.0 / fps;
        let truth = TruthEvent {
            event_id: j as u32 + 1,
            kind: *kind,
            onset_frame: onset + 1,
            apex_frame: apex + 1,
            offset_frame: offset + 1,
            onset_ms: ms(onset),
            apex_ms: ms(apex),
            offset_ms: ms(offset),
            duration_ms: (offset - onset) as f64 * 1000.0 / fps,
            aus: String::new(),
            emotion: pattern.emotion,
            amplitude_px: amplitude,
            side,
        };
        events.push((truth, onset, hold_start, hold_end, offset, pattern));
        t = offset + gap + alloc[j + 1];
    }

    // Make sure there is at least one one-sided micro-expression when there are 3 or more.
    if spec.micro_events >= 3 && !events.iter().any(|e| e.0.kind == EventKind::Micro && e.5.one_sided) {
        let pick = events
            .iter()
            .rposition(|e| e.0.kind == EventKind::Micro && matches!(e.5.name, "12" | "14" | "15"))
            .or_else(|| events.iter().rposition(|e| e.0.kind == EventKind::Micro));
        if let Some(j) = pick {
            let base = match events[j].5.name {
                "14" => P_14,
                "15" => P_15,
                _ => P_12,
            };
            events[j].5 = one_sided(base);
            events[j].0.emotion = base.emotion;
            let left_side: bool = rng.random();
            events[j].0.side = Some(if left_side { 'L' } else { 'R' });
        }
    }

    Ok(events
        .into_iter()
        .map(|(mut truth, onset, hold_start, hold_end, offset, pattern)| {
            let sides: &[bool] = match truth.side {
                Some('L') => &[true],
                Some(_) => &[false],
                None => &[false, true],
            };
            truth.aus = match truth.side {
                Some(s) => format!("{s}{}", pattern.name),
                None => pattern.name.to_string(),
            };
            let mut raw = Vec::new();
            for &(au, w) in pattern.aus {
                for &left in sides {
                    raw.push((basis_index(au, left), w));
                }
            }
            PlannedEvent { truth, onset, hold_start, hold_end, offset, raw_components: raw, components: Vec::new() }
        })
        .collect())
}

/// Plans blinks every 2-6 s, 100-250 ms long, kept clear of micro-expressions.
pub fn plan_blinks(spec: &SynthSpec, frame_count: u64, events: &[PlannedEvent]) -> Vec<Blink> {
    let fps = spec.fps;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ SALT_BLINKS);
    let mut blinks = Vec::new();
    let clear = frames_ceil(0.2, fps);
    let mut t_s = rng.random_range(0.5..3.0);
    loop {
        let dur_ms: f64 = rng.random_range(100.0..=250.0);
        let mut start = (t_s * fps).round() as u64;
        let len = ((dur_ms * fps / 1000.0).round() as u64).max(2);
        // Push the blink past any micro-expression it would touch.
        for e in events.iter().filter(|e| e.truth.kind == EventKind::Micro) {
            if start <= e.offset + clear && start + len + clear >= e.onset {
                start = e.offset + clear + 1;
            }
        }
        let end = start + len;
        if end >= frame_count {
            break;
        }
        let peak = (start + ((len as f64) * 0.4).round() as u64).clamp(start + 1, end - 1);
        let depth = rng.random_range(0.85..=1.0);
        blinks.push(Blink { start, peak, end, depth });
        t_s = end as f64 / fps + rng.random_range(2.0..6.0);
    }
    blinks
}

/// Slow smooth head motion: a similarity about the face centre whose translation, rotation and
/// scale are each a sum of two low-frequency sinusoids with seeded phases.
#[derive(Debug, Clone)]
pub struct HeadMotion {
    enabled: bool,
    /// `SynthSpec::roll_deg`, in radians.
    roll: f64,
    /// For tx, ty, angle (rad), log-scale: [(amplitude, frequency Hz, phase)] x 2.
    terms: [[(f64, f64, f64); 2]; 4],
}

/// Head pose at one instant: frame point = centre + s R(angle) (p - centre) + (tx, ty).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    pub tx: f32,
    pub ty: f32,
    /// Rotation in radians (image coordinates, y down).
    pub angle: f32,
    pub scale: f32,
}

impl HeadPose {
    pub const IDENTITY: HeadPose = HeadPose { tx: 0.0, ty: 0.0, angle: 0.0, scale: 1.0 };
}

impl HeadMotion {
    pub fn new(spec: &SynthSpec) -> HeadMotion {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ SALT_HEAD);
        let amps = [3.0, 2.0, 1.0f64.to_radians(), 0.01];
        let mut terms = [[(0.0, 0.0, 0.0); 2]; 4];
        for (k, amp) in amps.iter().enumerate() {
            let f0 = rng.random_range(0.04..0.12);
            let f1 = rng.random_range(0.15..0.35);
            let p0 = rng.random_range(0.0..std::f64::consts::TAU);
            let p1 = rng.random_range(0.0..std::f64::consts::TAU);
            terms[k] = [(amp * 0.65, f0, p0), (amp * 0.35, f1, p1)];
        }
        HeadMotion { enabled: spec.head_motion, roll: (spec.roll_deg as f64).to_radians(), terms }
    }

    pub fn pose(&self, t_s: f64) -> HeadPose {
        if !self.enabled {
            return HeadPose { angle: self.roll as f32, ..HeadPose::IDENTITY };
        }
        let v = |k: usize| self.terms[k].iter().map(|(a, f, p)| a * (std::f64::consts::TAU * f * t_s + p).sin()).sum::<f64>();
        HeadPose { tx: v(0) as f32, ty: v(1) as f32, angle: (v(2) + self.roll) as f32, scale: v(3).exp() as f32 }
    }
}
