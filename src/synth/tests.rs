use std::time::Instant;

use opencv::core::{self, Mat};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::*;

fn quiet(spec: SynthSpec) -> SynthSpec {
    SynthSpec { noise_sigma: 0.0, head_motion: false, blinks: false, ..spec }
}

fn bytes(m: &Mat) -> Vec<u8> {
    m.data_bytes().expect("continuous frame").to_vec()
}

fn f32s(m: &Mat) -> Vec<f32> {
    m.data_typed::<f32>().expect("CV_32F").to_vec()
}

fn max_mag(u: &Mat, v: &Mat) -> f32 {
    f32s(u).iter().zip(f32s(v).iter()).map(|(a, b)| (a * a + b * b).sqrt()).fold(0.0, f32::max)
}

#[test]
fn default_spec_matches_the_brief() {
    let s = SynthSpec::default();
    assert_eq!((s.width, s.height, s.fps, s.seconds), (640, 480, 30.0, 20.0));
    assert_eq!((s.micro_events, s.macro_events, s.seed), (8, 2, 1));
    assert!((s.noise_sigma - 2.0).abs() < 1e-6 && s.head_motion && s.blinks);
    assert_eq!(EventKind::Micro.to_string(), "micro");
    assert_eq!(EventKind::Macro.to_string(), "macro");
    assert_eq!(Emotion::Negative.to_string(), "negative");
    assert_eq!(Emotion::Positive.to_string(), "positive");
    assert_eq!(Emotion::Surprise.to_string(), "surprise");
}

#[test]
fn same_seed_same_frames_and_truth_in_any_order() {
    let spec = SynthSpec { seconds: 6.0, micro_events: 2, macro_events: 0, ..Default::default() };
    let mut a = SyntheticFace::new(spec.clone()).unwrap();
    let mut b = SyntheticFace::new(spec.clone()).unwrap();
    assert_eq!(a.truth(), b.truth());
    assert_eq!(a.blinks(), b.blinks());
    assert_eq!(a.frame_count(), 180);
    let apex = a.truth()[0].apex_frame - 1;
    let blink = a.blinks().first().map(|r| (r.0 + r.1) / 2 - 1).unwrap_or(10);
    let idx = [0, apex, blink, 97, 179];
    let fa: Vec<Vec<u8>> = idx.iter().map(|&i| bytes(&a.render(i).unwrap())).collect();
    // b renders in reverse order, with other frames in between.
    let mut fb = vec![Vec::new(); idx.len()];
    for (k, &i) in idx.iter().enumerate().rev() {
        let _ = b.render(i + 3).unwrap();
        fb[k] = bytes(&b.render(i).unwrap());
    }
    assert_eq!(fa, fb);
    // Successive frames differ (noise, motion).
    assert_ne!(fa[0], bytes(&a.render(1).unwrap()));
    assert_eq!(a.landmarks(apex), b.landmarks(apex));

    let c = SyntheticFace::new(SynthSpec { seed: 2, ..spec }).unwrap();
    assert_ne!(a.truth(), c.truth());
}

#[test]
fn different_seeds_give_different_truth() {
    let t: Vec<Vec<TruthEvent>> =
        (1..=4).map(|seed| SyntheticFace::new(SynthSpec { seed, ..Default::default() }).unwrap().truth().to_vec()).collect();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            assert_ne!(t[i], t[j], "seeds {} and {} gave the same truth", i + 1, j + 1);
        }
    }
}

fn check_truth(spec: &SynthSpec) {
    let face = SyntheticFace::new(spec.clone()).unwrap();
    let fps = spec.fps;
    let ev = face.truth();
    assert_eq!(ev.len(), spec.micro_events + spec.macro_events);
    assert_eq!(ev.iter().filter(|e| e.kind == EventKind::Micro).count(), spec.micro_events);
    for (k, e) in ev.iter().enumerate() {
        assert_eq!(e.event_id as usize, k + 1);
        assert!(e.onset_frame >= 1 && e.onset_frame < e.apex_frame && e.apex_frame < e.offset_frame, "{e:?}");
        assert!(e.offset_frame <= face.frame_count(), "{e:?} past the end");
        let ms = |f: u64| (f - 1) as f64 * 1000.0 / fps;
        assert!((e.onset_ms - ms(e.onset_frame)).abs() < 1e-6);
        assert!((e.apex_ms - ms(e.apex_frame)).abs() < 1e-6);
        assert!((e.offset_ms - ms(e.offset_frame)).abs() < 1e-6);
        assert!((e.duration_ms - (e.offset_ms - e.onset_ms)).abs() < 1e-6);
        assert!((e.onset_ms - face.frame_time_ms(e.onset_frame - 1)).abs() < 1e-9);
        assert!(e.onset_ms >= 1500.0 - 1e-6, "first events must leave a baseline: {e:?}");
        match e.kind {
            EventKind::Micro => {
                assert!((150.0 - 1e-6..=500.0 + 1e-6).contains(&e.duration_ms), "{e:?}");
                assert!((0.5..=3.0).contains(&e.amplitude_px), "{e:?}");
            }
            EventKind::Macro => {
                assert!((800.0 - 1e-6..=3000.0 + 1e-6).contains(&e.duration_ms), "{e:?}");
                assert!((3.0..=8.0).contains(&e.amplitude_px), "{e:?}");
            }
        }
        let base = e.aus.trim_start_matches(['L', 'R']);
        assert_eq!(e.side, e.aus.chars().next().filter(|c| *c == 'L' || *c == 'R'));
        let expected = match base {
            "12" | "6+12" => Emotion::Positive,
            "1+2" => Emotion::Surprise,
            "4" | "9" | "4+9" | "14" | "15" => Emotion::Negative,
            other => panic!("unexpected AUs {other}"),
        };
        assert_eq!(e.emotion, expected, "{e:?}");
        if k > 0 {
            let prev = &ev[k - 1];
            assert!(e.onset_ms - prev.offset_ms >= 1000.0 - 1e-6, "events too close: {prev:?} {e:?}");
        }
    }
    if spec.micro_events >= 3 {
        assert!(ev.iter().any(|e| e.kind == EventKind::Micro && e.side.is_some()), "no one-sided micro event");
    }
    for &(a, b) in face.blinks() {
        assert!(a >= 1 && a <= b && b <= face.frame_count());
    }
}

#[test]
fn truth_is_consistent_for_many_seeds_and_rates() {
    for seed in 0..12 {
        for fps in [30.0, 25.0, 60.0, 200.0] {
            check_truth(&SynthSpec { seed, fps, ..Default::default() });
        }
    }
    // Packed: many events in little time.
    check_truth(&SynthSpec { seconds: 15.0, micro_events: 10, macro_events: 1, ..Default::default() });
    check_truth(&SynthSpec { fps: 10.0, ..Default::default() });
}

#[test]
fn bad_specs_are_clear_errors() {
    let e = SyntheticFace::new(SynthSpec { fps: 0.0, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("fps"), "{e}");
    let e = SyntheticFace::new(SynthSpec { seconds: -1.0, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("seconds"), "{e}");
    let e = SyntheticFace::new(SynthSpec { seconds: 5.0, micro_events: 10, ..Default::default() }).unwrap_err();
    assert!(matches!(e, SynthError::TooManyEvents { .. }), "{e}");
    assert!(e.to_string().contains("cannot fit"), "{e}");
    let e = SyntheticFace::new(SynthSpec { width: 0, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("frame size"), "{e}");
    let e = SyntheticFace::new(SynthSpec { noise_sigma: f32::NAN, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("noise_sigma"), "{e}");
    let e = SyntheticFace::new(SynthSpec { fps: 2.0, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("too low"), "{e}");
    // No events at all is fine.
    let f = SyntheticFace::new(SynthSpec { seconds: 1.0, micro_events: 0, macro_events: 0, ..Default::default() });
    assert!(f.unwrap().truth().is_empty());
}

#[test]
fn truth_csv_round_trips_with_the_exact_header() {
    let face = SyntheticFace::new(SynthSpec { seed: 7, ..Default::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truth.csv");
    write_truth_csv(&path, face.truth()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "event_id,type,onset_frame,apex_frame,offset_frame,onset_ms,apex_ms,offset_ms,duration_ms,aus,emotion,amplitude_px"
    );
    assert_eq!(lines.count(), face.truth().len());
    let back = read_truth_csv(&path).unwrap();
    assert_eq!(back.len(), face.truth().len());
    for (a, b) in face.truth().iter().zip(back.iter()) {
        assert_eq!(
            (a.event_id, a.kind, a.onset_frame, a.apex_frame, a.offset_frame),
            (b.event_id, b.kind, b.onset_frame, b.apex_frame, b.offset_frame)
        );
        assert_eq!((&a.aus, a.emotion, a.side), (&b.aus, b.emotion, b.side));
        for (x, y) in
            [(a.onset_ms, b.onset_ms), (a.apex_ms, b.apex_ms), (a.offset_ms, b.offset_ms), (a.duration_ms, b.duration_ms)]
        {
            assert!((x - y).abs() <= 0.0005 + 1e-9, "{x} vs {y}");
        }
        assert!((a.amplitude_px - b.amplitude_px).abs() < 1e-6);
    }
    let err = write_truth_csv(&dir.path().join("no/such/dir/t.csv"), face.truth()).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

/// Apex frames differ from the neutral frame only where the expression field is.
#[test]
fn expressions_are_local_to_their_au_regions() {
    let spec = quiet(SynthSpec { seed: 3, ..Default::default() });
    let mut face = SyntheticFace::new(spec.clone()).unwrap();
    let neutral = bytes(&face.render(0).unwrap());
    assert!(face.active_event(0).is_none());
    let (w, h) = (spec.width as usize, spec.height as usize);
    let mut seen = std::collections::HashSet::new();
    for e in face.truth().to_vec() {
        let apex = e.apex_frame - 1;
        let img = bytes(&face.render(apex).unwrap());
        let (u, v) = face.expression_displacement(apex).unwrap();
        let (u, v) = (f32s(&u), f32s(&v));
        // AU region: where the field is above 2 % of the amplitude, grown by 2 px.
        let core_mask: Vec<bool> = u.iter().zip(v.iter()).map(|(a, b)| (a * a + b * b).sqrt() > 0.02 * e.amplitude_px).collect();
        let mut region = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                if core_mask[y * w + x] {
                    for yy in y.saturating_sub(2)..(y + 3).min(h) {
                        for xx in x.saturating_sub(2)..(x + 3).min(w) {
                            region[yy * w + xx] = true;
                        }
                    }
                }
            }
        }
        let (mut inside, mut outside) = (0u64, 0u64);
        for k in 0..w * h {
            let d: u64 = (0..3).map(|c| (img[k * 3 + c] as i32 - neutral[k * 3 + c] as i32).unsigned_abs() as u64).sum();
            if region[k] { inside += d } else { outside += d }
        }
        assert!(inside > 0, "event {} ({}) changed nothing", e.event_id, e.aus);
        let frac = inside as f64 / (inside + outside) as f64;
        let area = region.iter().filter(|r| **r).count() as f64 / (w * h) as f64;
        eprintln!(
            "event {} {} {} amp {:.2}: {:.4} of the change inside {:.3} of the frame",
            e.event_id, e.kind, e.aus, e.amplitude_px, frac, area
        );
        assert!(area < 0.12, "AU region too large: {area}");
        assert!(frac > 0.97, "event {} ({}): only {:.3} of the change is in the AU region", e.event_id, e.aus, frac);
        // One-sided events stay on their side of the face (L = image right).
        if let Some(side) = e.side {
            let mid = face.neutral_landmarks()[27][0];
            let mut wrong = 0.0f64;
            let mut all = 0.0f64;
            for y in 0..h {
                for x in 0..w {
                    let m = (u[y * w + x].powi(2) + v[y * w + x].powi(2)).sqrt() as f64;
                    all += m;
                    if (side == 'L') == ((x as f32) < mid) {
                        wrong += m;
                    }
                }
            }
            assert!(wrong / all < 0.02, "event {} ({}) leaks to the other side: {:.3}", e.event_id, e.aus, wrong / all);
        }
        seen.insert(e.aus.clone());
    }
    assert!(seen.len() >= 5, "too few AU patterns: {seen:?}");
}

#[test]
fn displacement_peaks_at_the_amplitude_and_is_zero_outside_events() {
    for head_motion in [false, true] {
        let spec = SynthSpec { seed: 5, head_motion, ..Default::default() };
        let face = SyntheticFace::new(spec).unwrap();
        for e in face.truth() {
            let (u, v) = face.expression_displacement(e.apex_frame - 1).unwrap();
            assert_eq!((u.cols(), u.rows(), u.typ()), (640, 480, core::CV_32FC1));
            let m = max_mag(&u, &v);
            assert!((m - e.amplitude_px).abs() <= 0.05 * e.amplitude_px, "event {}: peak {m} vs {}", e.event_id, e.amplitude_px);
            // Rising and falling: half-way frames are smaller than the apex.
            let before = face.expression_displacement(e.onset_frame).unwrap();
            assert!(max_mag(&before.0, &before.1) < m);
            for idx in [e.onset_frame - 1, e.offset_frame - 1, e.onset_frame - 2, e.offset_frame] {
                let (u, v) = face.expression_displacement(idx).unwrap();
                assert_eq!(max_mag(&u, &v), 0.0, "non-zero field at index {idx} outside event {}", e.event_id);
            }
        }
        let (u, v) = face.expression_displacement(0).unwrap();
        assert_eq!(max_mag(&u, &v), 0.0);
    }
}

#[test]
fn landmarks_follow_the_expression_and_the_head() {
    let spec = quiet(SynthSpec { seed: 9, ..Default::default() });
    let face = SyntheticFace::new(spec.clone()).unwrap();
    let neutral = face.neutral_landmarks();
    assert_eq!(face.landmarks(0), neutral);
    // Neutral landmarks lie on the face box and inside the frame.
    let fb = face.face_box();
    for p in &neutral {
        assert!(p[0] > 0.0 && p[1] > 0.0 && p[0] < 640.0 && p[1] < 480.0);
    }
    assert!(fb[3] > 150.0 && fb[3] < 220.0, "face box {fb:?}");
    for e in face.truth() {
        let lm = face.landmarks(e.apex_frame - 1);
        let moved = lm
            .iter()
            .zip(neutral.iter())
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0f32, f32::max);
        assert!(moved > 0.3 * e.amplitude_px && moved <= e.amplitude_px * 1.001, "event {}: moved {moved}", e.event_id);
        if e.aus.ends_with("12") && e.side.is_none() {
            // Lip corners go up.
            assert!(lm[48][1] < neutral[48][1] && lm[54][1] < neutral[54][1]);
        }
        if e.aus == "1+2" {
            assert!(lm[19][1] < neutral[19][1] && lm[24][1] < neutral[24][1]);
        }
        if e.aus == "15" {
            assert!(lm[48][1] > neutral[48][1] && lm[54][1] > neutral[54][1]);
        }
    }
    // Head motion moves the landmarks by at most a few pixels.
    let moving = SyntheticFace::new(SynthSpec { head_motion: true, ..spec }).unwrap();
    let mut max_shift = 0.0f32;
    for i in (0..moving.frame_count()).step_by(15) {
        if moving.active_event(i).is_some() {
            continue;
        }
        for (a, b) in moving.landmarks(i).iter().zip(neutral.iter()) {
            max_shift = max_shift.max(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
        }
    }
    assert!(max_shift > 0.5 && max_shift < 7.0, "head motion shift {max_shift}");
}

#[test]
fn blinks_close_the_eyes_and_are_not_in_the_truth() {
    let spec = SynthSpec { noise_sigma: 0.0, head_motion: false, seconds: 30.0, ..Default::default() };
    let mut face = SyntheticFace::new(spec).unwrap();
    let blinks = face.blinks().to_vec();
    assert!(blinks.len() >= 4 && blinks.len() <= 15, "{blinks:?}");
    for w in blinks.windows(2) {
        assert!((w[1].0 - w[0].1) as f64 / 30.0 >= 1.9, "blinks too close: {w:?}");
    }
    for &(a, b) in &blinks {
        let ms = (b - a + 2) as f64 * 1000.0 / 30.0;
        assert!((60.0..=300.0).contains(&ms), "blink length {ms} ms");
        for e in face.truth().iter().filter(|e| e.kind == EventKind::Micro) {
            assert!(b < e.onset_frame || a > e.offset_frame, "blink {a}-{b} overlaps {e:?}");
        }
    }
    let (a, b) = blinks[0];
    let mid = (a + b) / 2 - 1;
    assert!(face.blink_closure(mid) > 0.5);
    let neutral = bytes(&face.render(0).unwrap());
    let closed = bytes(&face.render(mid).unwrap());
    let lm = face.neutral_landmarks();
    let lm_closed = face.landmarks(mid);
    assert!(lm_closed[37][1] > lm[37][1] + 1.0, "upper lid landmark did not move");
    let (x0, x1) = (lm[36][0] as usize - 4, lm[45][0] as usize + 4);
    let y1 = lm[36..48].iter().map(|p| p[1]).fold(0.0f32, f32::max) as usize + 4;
    let y0 = lm[19][1] as usize;
    let (mut inside, mut outside) = (0u64, 0u64);
    for y in 0..480 {
        for x in 0..640 {
            let k = (y * 640 + x) * 3;
            let d: u64 = (0..3).map(|c| (closed[k + c] as i32 - neutral[k + c] as i32).unsigned_abs() as u64).sum();
            if (x0..x1).contains(&x) && (y0..y1).contains(&y) { inside += d } else { outside += d }
        }
    }
    assert!(inside > 2000 && outside == 0, "blink change inside {inside}, outside {outside}");
}

#[test]
fn noise_has_the_requested_sigma() {
    let base =
        SynthSpec { seconds: 1.0, micro_events: 0, macro_events: 0, head_motion: false, blinks: false, ..Default::default() };
    let mut clean = SyntheticFace::new(SynthSpec { noise_sigma: 0.0, ..base.clone() }).unwrap();
    let mut noisy = SyntheticFace::new(SynthSpec { noise_sigma: 3.0, ..base }).unwrap();
    let c = bytes(&clean.render(4).unwrap());
    let n = bytes(&noisy.render(4).unwrap());
    let n2 = bytes(&noisy.render(5).unwrap());
    let (mut s, mut s2, mut cnt) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in c.iter().zip(n.iter()) {
        if *a > 20 && *a < 235 {
            let d = *b as f64 - *a as f64;
            s += d;
            s2 += d * d;
            cnt += 1.0;
        }
    }
    let mean = s / cnt;
    let sd = (s2 / cnt - mean * mean).sqrt();
    assert!(mean.abs() < 0.05, "noise mean {mean}");
    assert!((sd - 3.0).abs() < 0.3, "noise sd {sd}");
    assert_ne!(n, n2, "noise must change from frame to frame");
}

fn count_frames(path: &std::path::Path) -> (u64, i32, i32) {
    let mut cap = VideoCapture::from_file(path.to_str().unwrap(), videoio::CAP_ANY).unwrap();
    assert!(cap.is_opened().unwrap(), "cannot reopen {}", path.display());
    let mut frame = Mat::default();
    let (mut n, mut w, mut h) = (0u64, 0, 0);
    while cap.read(&mut frame).unwrap() && !frame.empty() {
        n += 1;
        w = frame.cols();
        h = frame.rows();
    }
    (n, w, h)
}

#[test]
fn write_video_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SynthSpec { seconds: 3.0, micro_events: 1, macro_events: 0, ..Default::default() };
    for name in ["synth.mp4", "synth.avi"] {
        let video = dir.path().join(name);
        let truth = dir.path().join(format!("{name}.csv"));
        let mut calls = 0u64;
        let summary = write_video(&spec, &video, &truth, &mut |done, total| {
            calls += 1;
            assert!(done <= total && total == 90);
        })
        .unwrap();
        assert_eq!(calls, 90);
        assert_eq!(summary.frames, 90);
        eprintln!("{name}: fourcc {}, render {:.2} ms/frame", summary.fourcc, summary.render_ms_per_frame);
        let (n, w, h) = count_frames(&video);
        assert_eq!((n, w, h), (90, 640, 480), "{name}");
        assert_eq!(read_truth_csv(&truth).unwrap().len(), 1);
    }
    let err = write_video(&spec, &dir.path().join("x.gif"), &dir.path().join("t.csv"), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("x.gif"), "{err}");
    let err = write_video(&spec, &dir.path().join("missing/x.mp4"), &dir.path().join("t.csv"), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("missing/x.mp4"), "{err}");
}

#[test]
fn render_speed() {
    let mut face = SyntheticFace::new(SynthSpec::default()).unwrap();
    let frame = face.render(0).unwrap();
    assert_eq!((frame.cols(), frame.rows(), frame.typ()), (640, 480, core::CV_8UC3));
    let n = 300;
    let t0 = Instant::now();
    for i in 0..n {
        let _ = face.render(i).unwrap();
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
    eprintln!("render: {ms:.2} ms/frame (640x480, default spec)");
    assert!(ms < 60.0, "render too slow: {ms} ms/frame");
}

#[test]
fn tiny_frames_do_not_panic() {
    for (w, h) in [(32, 32), (33, 47)] {
        let mut face = SyntheticFace::new(SynthSpec {
            width: w,
            height: h,
            seconds: 4.0,
            micro_events: 1,
            macro_events: 1,
            ..Default::default()
        });
        let face = face.as_mut().map_err(|e| e.to_string());
        match face {
            Ok(face) => {
                for i in 0..face.frame_count() {
                    let f = face.render(i).unwrap();
                    assert_eq!((f.cols(), f.rows()), (w, h));
                }
            }
            Err(e) => assert!(e.contains("cannot fit"), "{e}"),
        }
    }
}

#[test]
fn other_frame_sizes_work() {
    for (w, h) in [(320, 240), (1280, 720), (480, 640)] {
        let mut face = SyntheticFace::new(SynthSpec {
            width: w,
            height: h,
            seconds: 4.0,
            micro_events: 1,
            macro_events: 0,
            ..Default::default()
        })
        .unwrap();
        let e = face.truth()[0].clone();
        let f = face.render(e.apex_frame - 1).unwrap();
        assert_eq!((f.cols(), f.rows()), (w, h));
        let (u, v) = face.expression_displacement(e.apex_frame - 1).unwrap();
        let m = max_mag(&u, &v);
        assert!((m - e.amplitude_px).abs() <= 0.05 * e.amplitude_px, "{w}x{h}: {m} vs {}", e.amplitude_px);
        for p in face.landmarks(0) {
            assert!(p[0] > 0.0 && p[1] > 0.0 && p[0] < w as f32 && p[1] < h as f32, "{w}x{h}: landmark {p:?} outside");
        }
    }
}

#[test]
fn point_motion_carries_each_frame_landmark_to_the_next() {
    // Head motion and expressions on, blinks off: the true landmarks of frame `from`, moved by
    // the true motion, land on the true landmarks of frame `to`. Not exactly: the renderer
    // inverts the expression with three fixed-point steps (a few hundredths of a pixel off for
    // micro amplitudes), and the motion follows what it drew.
    let spec = SynthSpec { blinks: false, seconds: 12.0, micro_events: 6, macro_events: 2, ..SynthSpec::default() };
    let synth = SyntheticFace::new(spec).expect("synth");
    let mut checked = 0;
    for event in synth.truth().iter().filter(|e| e.kind == EventKind::Micro).cloned().collect::<Vec<_>>() {
        let to = event.apex_frame - 1;
        let from = to.saturating_sub(3);
        let moved = synth.point_motion(from, to, &synth.landmarks(from), true);
        let head_only = synth.point_motion(from, to, &synth.landmarks(from), false);
        let mut expression = 0.0f32;
        for ((got, want), head) in moved.iter().zip(synth.landmarks(to)).zip(&head_only) {
            let (got, head) = (got.expect("no blink"), head.expect("no blink"));
            assert!((got[0] - want[0]).hypot(got[1] - want[1]) < 0.08, "{got:?} vs {want:?}");
            expression = expression.max((got[0] - head[0]).hypot(got[1] - head[1]));
        }
        assert!(expression > 0.05, "the event moves some landmark beyond the head motion");
        checked += 1;
    }
    assert!(checked >= 6);
}

#[test]
fn a_rolled_head_tilts_the_eye_line_by_the_roll() {
    let upright = SyntheticFace::new(quiet(SynthSpec::default())).unwrap();
    let rolled = SyntheticFace::new(quiet(SynthSpec { roll_deg: 12.0, ..Default::default() })).unwrap();
    let degrees = |face: &SyntheticFace| crate::face::eye_line_roll(&face.landmarks(0)).to_degrees();
    assert!((degrees(&rolled) - degrees(&upright) - 12.0).abs() < 0.05, "{} vs {}", degrees(&rolled), degrees(&upright));
    assert!((rolled.head_pose(0).angle.to_degrees() - 12.0).abs() < 1e-4);
    let error = SyntheticFace::new(SynthSpec { roll_deg: 60.0, ..Default::default() }).unwrap_err();
    assert!(error.to_string().contains("roll"), "{error}");
}
