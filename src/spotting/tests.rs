//! The spotter on made-up region signals: a displacement profile per region (the truth), turned
//! into lag flows exactly as the motion stage measures them, plus seeded noise.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::motion::{FrameMotion, HeadMotion, Measurement, MotionField, RegionMotion};

const LAG_MS: f64 = 100.0;

/// An expression on one region: raised-cosine rise to `amplitude` at `apex_s`, back to zero
/// at `offset_s` (or held until `offset_s` when `hold_s` > 0).
#[derive(Clone, Copy)]
struct Movement {
    region: Region,
    direction: [f32; 2],
    amplitude: f32,
    onset_s: f64,
    apex_s: f64,
    hold_s: f64,
    offset_s: f64,
}

impl Movement {
    fn displacement(&self, t: f64) -> [f32; 2] {
        let rc = |x: f64| (0.5 - 0.5 * (std::f64::consts::PI * x).cos()) as f32;
        let release = self.apex_s + self.hold_s;
        let k = if t <= self.onset_s || t >= self.offset_s {
            0.0
        } else if t < self.apex_s {
            rc((t - self.onset_s) / (self.apex_s - self.onset_s))
        } else if t <= release {
            1.0
        } else {
            rc((self.offset_s - t) / (self.offset_s - release))
        };
        [self.direction[0] * k * self.amplitude, self.direction[1] * k * self.amplitude]
    }
}

/// Blinks: the eye regions move 1.5 px and the brows `brow_px` (the flow's spill).
#[derive(Clone, Copy)]
struct Blink {
    start_s: f64,
    end_s: f64,
    brow_px: f32,
}

fn blinks(count: usize, first_s: f64, every_s: f64, brow_px: f32) -> Vec<Blink> {
    (0..count).map(|i| first_s + i as f64 * every_s).map(|start_s| Blink { start_s, end_s: start_s + 0.25, brow_px }).collect()
}

struct Scene {
    fps: f64,
    seconds: f64,
    movements: Vec<Movement>,
    blinks: Vec<Blink>,
    noise_px: f32,
    /// Frames (by time) where the face is lost.
    lost: Option<(f64, f64)>,
}

impl Scene {
    fn displacement(&self, t: f64) -> [[f32; 2]; 8] {
        let mut d = [[0.0f32; 2]; 8];
        for m in &self.movements {
            let v = m.displacement(t);
            d[m.region as usize][0] += v[0];
            d[m.region as usize][1] += v[1];
        }
        for b in &self.blinks {
            if t > b.start_s && t < b.end_s {
                let x = (t - b.start_s) / (b.end_s - b.start_s);
                let k = (std::f64::consts::PI * x).sin() as f32;
                let moves = [(Region::EyeR, 1.5), (Region::EyeL, 1.5), (Region::BrowR, b.brow_px), (Region::BrowL, b.brow_px)];
                for (region, amount) in moves {
                    d[region as usize][1] += k * amount;
                }
            }
        }
        d
    }

    /// Runs the spotter over the scene; returns the events and the frame samples.
    fn run(&self, config: SpotterConfig, seed: u64) -> (Vec<SpotEvent>, Vec<SpotSample>, Spotter) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut spotter = Spotter::new(config);
        let frames = (self.seconds * self.fps) as u64;
        let lag_frames = (LAG_MS / 1000.0 * self.fps).round() as u64;
        let mut events = Vec::new();
        let mut samples = Vec::new();
        for index in 0..frames {
            let t = index as f64 / self.fps;
            let lost = self.lost.is_some_and(|(a, b)| t >= a && t < b);
            let motion = (index >= lag_frames && !lost).then(|| {
                let reference = index - lag_frames;
                let (now, before) = (self.displacement(t), self.displacement(reference as f64 / self.fps));
                let mut regions = RegionSignals::default();
                for (i, slot) in regions.values.iter_mut().enumerate() {
                    let mut noise = || rng.random_range(-1.0f32..1.0) * self.noise_px;
                    let (u, v) = (now[i][0] - before[i][0] + noise(), now[i][1] - before[i][1] + noise());
                    // Flow magnitudes are biased up by noise: a region mean of |flow| never
                    // reaches zero.
                    let magnitude = u.hypot(v) + self.noise_px * (1.0 + rng.random_range(0.0f32..0.5));
                    *slot = RegionMotion { magnitude, mean_u: u, mean_v: v };
                }
                FrameMotion {
                    reference_index: reference,
                    measurement: Measurement {
                        head: HeadMotion::default(),
                        residual: Arc::new(MotionField::zeros(1, 1)),
                        regions,
                    },
                }
            });
            let (sample, event) = spotter.push(index, t, motion.as_ref());
            samples.push(sample);
            events.extend(event);
        }
        events.extend(spotter.finish());
        (events, samples, spotter)
    }
}

fn micro(region: Region, direction: [f32; 2], amplitude: f32, onset_s: f64, duration_s: f64) -> Movement {
    Movement {
        region,
        direction,
        amplitude,
        onset_s,
        apex_s: onset_s + 0.45 * duration_s,
        hold_s: 0.0,
        offset_s: onset_s + duration_s,
    }
}

fn iou(a: (f64, f64), b: (f64, f64)) -> f64 {
    let inter = (a.1.min(b.1) - a.0.max(b.0)).max(0.0);
    let union = (a.1 - a.0) + (b.1 - b.0) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[test]
fn finds_micro_expressions_with_their_onset_apex_and_offset_at_25_30_and_60_fps() {
    for fps in [25.0, 30.0, 60.0] {
        let truth = [
            micro(Region::MouthR, [-0.6, -0.8], 0.4, 2.0, 0.3),
            micro(Region::BrowL, [0.0, -1.0], 0.25, 4.0, 0.45),
            micro(Region::Nose, [0.0, -1.0], 0.8, 6.0, 0.2),
        ];
        let scene = Scene { fps, seconds: 8.0, movements: truth.to_vec(), blinks: vec![], noise_px: 0.01, lost: None };
        let (events, _, _) = scene.run(SpotterConfig::default(), 7);
        assert_eq!(events.len(), truth.len(), "{fps} fps: {events:#?}");
        for (event, m) in events.iter().zip(&truth) {
            assert_eq!(event.kind, EventKind::Micro);
            let overlap = iou((event.onset.seconds, event.offset.seconds), (m.onset_s, m.offset_s));
            assert!(overlap >= 0.6, "{fps} fps: IoU {overlap:.2} for {event:?}");
            assert!((event.apex.seconds - m.apex_s).abs() <= 1.5 / fps + 0.02, "{fps} fps apex {event:?}");
            assert!(event.confidence > 0.0 && event.confidence <= 1.0);
        }
    }
}

#[test]
fn events_are_reported_within_half_a_second_of_their_offset() {
    let truth = micro(Region::MouthL, [0.6, -0.8], 0.5, 2.0, 0.4);
    let scene = Scene { fps: 30.0, seconds: 5.0, movements: vec![truth], blinks: vec![], noise_px: 0.01, lost: None };
    // Frame by frame, to see when the event comes out.
    let mut spotter = Spotter::new(SpotterConfig::default());
    let mut reported_at = None;
    for index in 0..150u64 {
        let t = index as f64 / 30.0;
        if index < 3 {
            spotter.push(index, t, None);
            continue;
        }
        let (now, before) = (scene.displacement(t), scene.displacement((index - 3) as f64 / 30.0));
        let mut regions = RegionSignals::default();
        for (i, slot) in regions.values.iter_mut().enumerate() {
            let (u, v) = (now[i][0] - before[i][0], now[i][1] - before[i][1]);
            *slot =
                RegionMotion { magnitude: u.hypot(v) + 0.01 + 0.002 * ((index * 7 + i as u64) % 5) as f32, mean_u: u, mean_v: v };
        }
        let motion = FrameMotion {
            reference_index: index - 3,
            measurement: Measurement { head: HeadMotion::default(), residual: Arc::new(MotionField::zeros(1, 1)), regions },
        };
        if let (_, Some(_)) = spotter.push(index, t, Some(&motion)) {
            reported_at = Some(t);
            break;
        }
    }
    let reported_at = reported_at.expect("the event is reported");
    assert!(reported_at - truth.offset_s <= 0.5, "reported {:.3} s after the offset", reported_at - truth.offset_s);
}

#[test]
fn blinks_and_noise_do_not_fire() {
    let blinks = blinks(12, 1.5, 0.9, 0.2);
    let scene = Scene { fps: 30.0, seconds: 13.0, movements: vec![], blinks, noise_px: 0.01, lost: None };
    let (events, samples, _) = scene.run(SpotterConfig::default(), 11);
    assert!(events.is_empty(), "{events:#?}");
    assert!(samples.iter().any(|s| s.ready), "the spotter warms up");
}

#[test]
fn a_flow_that_spills_blinks_into_the_brows_learns_how_much_and_still_sees_the_brows() {
    // flow.onnx v3 moves the brows by up to 0.65 of the eyes' motion in a blink (DIS: 0.2).
    let frown = micro(Region::BrowR, [0.0, 1.0], 0.3, 7.6, 0.3);
    let blinks = blinks(7, 1.5, 0.9, 0.9);
    let scene = Scene { fps: 30.0, seconds: 10.0, movements: vec![frown], blinks, noise_px: 0.01, lost: None };
    let (events, _, spotter) = scene.run(SpotterConfig::default(), 5);
    assert_eq!(events.len(), 1, "only the frown, no blink: {events:#?}");
    let found = (events[0].onset.seconds, events[0].offset.seconds);
    assert!(iou(found, (frown.onset_s, frown.offset_s)) >= 0.5, "{events:#?}");
    assert!(spotter.blink_coupling.iter().flatten().all(|&c| c > 0.5 && c < 0.7), "{:?}", spotter.blink_coupling);

    // With the coupling fixed at its floor, the same blinks are events.
    let fixed = SpotterConfig { blink_observations: 0, ..SpotterConfig::default() };
    let (events, _, _) = scene.run(fixed, 5);
    assert!(events.len() > 1, "{events:#?}");
}

#[test]
fn a_held_expression_is_macro_and_a_sustained_change_is_no_event() {
    let held = Movement {
        region: Region::MouthR,
        direction: [-0.6, -0.8],
        amplitude: 2.0,
        onset_s: 2.0,
        apex_s: 2.3,
        hold_s: 0.8,
        offset_s: 3.5,
    };
    let never_released = Movement { onset_s: 6.0, apex_s: 6.3, hold_s: 20.0, offset_s: 40.0, ..held };
    let scene =
        Scene { fps: 30.0, seconds: 12.0, movements: vec![held, never_released], blinks: vec![], noise_px: 0.01, lost: None };
    let (events, _, spotter) = scene.run(SpotterConfig::default(), 5);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].kind, EventKind::Macro);
    assert!(iou((events[0].onset.seconds, events[0].offset.seconds), (2.0, 3.5)) >= 0.6, "{:?}", events[0]);
    assert!(spotter.counters().too_long >= 1);
}

#[test]
fn no_spotting_while_the_face_is_lost() {
    let truth = micro(Region::MouthR, [-0.6, -0.8], 0.6, 3.0, 0.3);
    let scene = Scene { fps: 30.0, seconds: 6.0, movements: vec![truth], blinks: vec![], noise_px: 0.01, lost: Some((3.1, 3.2)) };
    let (events, samples, spotter) = scene.run(SpotterConfig::default(), 9);
    assert!(events.is_empty(), "an event cut by a lost face is dropped: {events:#?}");
    assert!(samples.iter().any(|s| s.score.is_none()));
    assert_eq!(spotter.counters().interrupted, 1);
}

#[test]
fn sensitivity_and_calibration_move_the_threshold() {
    let weak = micro(Region::Nose, [0.0, -1.0], 0.12, 4.0, 0.3);
    let scene = Scene { fps: 30.0, seconds: 6.0, movements: vec![weak], blinks: vec![], noise_px: 0.01, lost: None };
    let (sensitive, _, _) = scene.run(SpotterConfig::default(), 2);
    assert_eq!(sensitive.len(), 1, "the default finds a 0.12 px nose movement");
    let strict = SpotterConfig { sensitivity: 60.0, ..SpotterConfig::default() };
    let (none, _, _) = scene.run(strict, 2);
    assert!(none.is_empty());

    // A calibration on a noisy neutral face raises the floor.
    let mut spotter = Spotter::new(SpotterConfig::default());
    spotter.start_calibration(0.0, 1000.0);
    assert_eq!(spotter.calibration().progress(0.5), Some(0.5));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for index in 3..40u64 {
        let mut regions = RegionSignals::default();
        for slot in regions.values.iter_mut() {
            slot.magnitude = 0.1 + rng.random_range(0.0f32..0.1);
        }
        let motion = FrameMotion {
            reference_index: index - 3,
            measurement: Measurement { head: HeadMotion::default(), residual: Arc::new(MotionField::zeros(1, 1)), regions },
        };
        spotter.push(index, index as f64 / 30.0, Some(&motion));
    }
    match spotter.calibration() {
        Calibration::Done { spread_px } => assert!(spread_px[Region::Chin as usize] > 0.02, "{spread_px:?}"),
        other => panic!("calibration should be done: {other:?}"),
    }
}

#[test]
fn median_of_even_and_odd_lists() {
    assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median_in_place(&mut []), 0.0);
}

#[test]
fn jaw_movement_does_not_fire_but_a_mouth_corner_does() {
    // Talking: the chin moves (and the corners with it, less), over and over.
    let talk: Vec<Movement> = (0..10)
        .flat_map(|i| {
            let t = 2.0 + i as f64 * 0.6;
            [micro(Region::Chin, [0.0, 1.0], 0.8, t, 0.3), micro(Region::MouthR, [0.0, 1.0], 0.3, t, 0.3)]
        })
        .collect();
    let scene = Scene { fps: 30.0, seconds: 9.0, movements: talk, blinks: vec![], noise_px: 0.01, lost: None };
    let (events, _, _) = scene.run(SpotterConfig::default(), 4);
    assert!(events.is_empty(), "{events:#?}");

    let smile = micro(Region::MouthL, [0.6, -0.8], 0.3, 3.0, 0.3);
    let scene = Scene { fps: 30.0, seconds: 5.0, movements: vec![smile], blinks: vec![], noise_px: 0.01, lost: None };
    assert_eq!(scene.run(SpotterConfig::default(), 4).0.len(), 1);
}

#[test]
fn an_expression_first_seen_on_its_return_still_ends_as_an_event() {
    // A slow, faint rise the score misses and a quick return it sees: the crossing comes after
    // the apex, and the displacement chain must start before the rise to see the face return
    // to neutral.
    let late = Movement {
        region: Region::BrowR,
        direction: [0.0, 1.0],
        amplitude: 0.15,
        onset_s: 3.0,
        apex_s: 3.42,
        hold_s: 0.0,
        offset_s: 3.48,
    };
    let scene = Scene { fps: 30.0, seconds: 7.0, movements: vec![late], blinks: vec![], noise_px: 0.02, lost: None };
    let (events, samples, _) = scene.run(SpotterConfig::default(), 3);
    let first_above = samples.iter().position(|s| s.active).expect("the return is seen") as f64 / 30.0;
    assert!(first_above > late.apex_s, "the test needs a crossing after the apex, got {first_above:.3} s");
    assert_eq!(events.len(), 1, "{events:#?}");
    let overlap = iou((events[0].onset.seconds, events[0].offset.seconds), (late.onset_s, late.offset_s));
    assert!(overlap >= 0.5, "IoU {overlap:.2} for {:?}", events[0]);
}

#[test]
fn the_mean_rule_averages_the_last_sustained_ms_at_any_frame_rate() {
    for fps in [25.0, 30.0, 60.0] {
        let mut spotter = Spotter::new(SpotterConfig::default());
        let window_ms = SpotterConfig::default().sustained_ms;
        // Frames no more than `window_ms` old, the newest included.
        let in_window = (window_ms / 1000.0 * fps + 1e-6).floor() as usize + 1;
        let mut means = Vec::new();
        for i in 0..in_window + 4 {
            // Alternating 4 and 8: the mean stays near 6 whatever dips.
            let score = if i % 2 == 0 { 4.0 } else { 8.0 };
            means.push(spotter.mean_recent_score(i as f64 / fps, score));
        }
        assert!(means[..in_window].iter().all(Option::is_none), "{fps} fps: not before the window is covered: {means:?}");
        for mean in &means[in_window..] {
            let mean = mean.expect("a mean once covered");
            assert!((mean - 6.0).abs() <= 2.0 / in_window as f32 + 1e-4, "{fps} fps: {mean}");
        }
    }
}
