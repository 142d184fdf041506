//! The pipeline end to end: `glimpse synth` then `glimpse analyse` on the file, and a source that
//! dies mid-stream (a camera unplugged) without losing what was already analysed, or comes back
//! and is recorded on.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use glimpse::capture::{CaptureError, Source, UnpluggedCamera};
use glimpse::commands::StopFlag;
use glimpse::commands::analyse::{Reconnect, analyse_into, analyse_source, session_recorder};
use glimpse::pipeline::PipelineConfig;
use glimpse::synth::SynthSpec;

#[path = "common/synth.rs"]
mod synth;
#[path = "common/video.rs"]
mod video;

fn glimpse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("the binary runs")
}

#[test]
fn synth_then_analyse_gives_one_row_per_frame_with_container_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("face.mp4");
    let truth = dir.path().join("truth.csv");
    let out = dir.path().join("session");
    synth::synth_video(&video, &truth, 8, 3, 1, 7);

    let analysed = glimpse(&["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(analysed.status.success(), "{}", String::from_utf8_lossy(&analysed.stderr));

    let mut reader = csv::Reader::from_path(out.join("frames.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header.iter().take(5).collect::<Vec<_>>(), &["frame", "face_id", "timestamp", "confidence", "success"]);
    let expected_landmarks: Vec<String> = (0..68).map(|i| format!("x_{i}")).chain((0..68).map(|i| format!("y_{i}"))).collect();
    assert_eq!(
        header.iter().skip(5).take(136).collect::<Vec<_>>(),
        expected_landmarks,
        "OpenFace's landmark columns after success"
    );
    assert_eq!(header.get(141), Some("capture_ns"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();

    let container = video::frame_times(&video);
    assert_eq!(container.len(), 240, "8 s at 30 fps");
    assert_eq!(rows.len(), container.len(), "one row per decoded frame");
    let mut previous = f64::NEG_INFINITY;
    for (i, (row, pts)) in rows.iter().zip(&container).enumerate() {
        assert_eq!(row[0].parse::<u64>().unwrap(), i as u64 + 1, "frames numbered from 1");
        let timestamp: f64 = row[2].parse().unwrap();
        assert!(timestamp > previous, "timestamps strictly increase at row {}", i + 1);
        assert!((timestamp - pts).abs() < 1e-3, "frame {}: {timestamp} s vs container {pts} s", i + 1);
        previous = timestamp;
    }
    let found = rows.iter().filter(|row| &row[4] == "1").count();
    assert!(found * 100 >= rows.len() * 95, "face found in {found} of {} frames", rows.len());
    // models/landmarks.onnx is in the checkout, so every measured frame has its 68 points, on
    // the frame and around the face box.
    for row in rows.iter().filter(|row| &row[4] == "1") {
        let xs: Vec<f32> = (5..73).map(|i| row[i].parse().expect("x filled")).collect();
        let ys: Vec<f32> = (73..141).map(|i| row[i].parse().expect("y filled")).collect();
        let face_x: f32 = row[142].parse().unwrap();
        let face_w: f32 = row[144].parse().unwrap();
        let mean_x = xs.iter().sum::<f32>() / 68.0;
        assert!(
            (mean_x - (face_x + face_w / 2.0)).abs() < 0.25 * face_w,
            "landmarks off the face: {mean_x} vs box {face_x}+{face_w}"
        );
        assert!(ys.iter().all(|y| y.is_finite()));
    }
    // The same face all along: one identity.
    let ids: std::collections::BTreeSet<&str> = rows.iter().filter(|r| &r[4] == "1").map(|r| r.get(1).unwrap()).collect();
    assert_eq!(ids.len(), 1, "face ids {ids:?}");
}

#[test]
fn camera_lost_mid_stream_keeps_what_was_analysed() {
    let source =
        UnpluggedCamera::new(SynthSpec { seconds: 3.0, micro_events: 0, macro_events: 0, ..SynthSpec::default() }, 40).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A large ring so that no frame is dropped even on a loaded machine.
    let config = PipelineConfig { ring_capacity: 64, ..PipelineConfig::default() };
    let error = match analyse_source(Box::new(source), config, dir.path(), false, false, &StopFlag::default()) {
        Ok(_) => panic!("a lost camera must be reported"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("camera 0 stopped delivering frames after 40 frames"), "{error}");
    assert!(error.contains("No such device"), "{error}");
    let csv = std::fs::read_to_string(dir.path().join("frames.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 40, "every frame before the loss is written");
}

/// Headless `analyse` on a camera: the camera is lost after 40 frames, is not there at the first
/// retry, comes back for 25 frames, is lost again and is still gone when the user stops. One
/// session folder holds both streams, numbered and timed on one line.
#[test]
fn a_lost_camera_is_reopened_and_the_session_goes_on() {
    let spec = SynthSpec { seconds: 3.0, micro_events: 0, macro_events: 0, ..SynthSpec::default() };
    let first = UnpluggedCamera::new(spec.clone(), 40).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig { ring_capacity: 64, ..PipelineConfig::default() };
    let recorder = session_recorder(dir.path(), &first, &config, false);
    let stop = StopFlag::default();
    let attempts = AtomicUsize::new(0);
    let reopen = || -> Result<Box<dyn Source>, CaptureError> {
        match attempts.fetch_add(1, Ordering::SeqCst) {
            1 => Ok(Box::new(UnpluggedCamera::new(spec.clone(), 25)?)),
            n => {
                if n >= 3 {
                    stop.raise();
                }
                Err(CaptureError::CameraOpen { index: 0, reason: "No such device".into() })
            }
        }
    };
    let reconnect = Reconnect { reopen: &reopen, every: Duration::from_millis(10) };
    let outcome = analyse_into(Box::new(first), config, recorder, false, &stop, Some(reconnect)).expect("a stop, not an error");
    assert_eq!(attempts.load(Ordering::SeqCst), 4, "tried until stopped");
    let warning = outcome.warnings.join("\n");
    assert!(warning.contains("lost 2 time(s)") && warning.contains("had not come back"), "{warning}");
    assert!(warning.contains("after 40 frames") && warning.contains("after 25 frames"), "{warning}");

    let mut reader = csv::Reader::from_path(dir.path().join("frames.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 40 + 25, "both streams recorded, nothing lost");
    let mut previous = f64::NEG_INFINITY;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].parse::<u64>().unwrap(), i as u64 + 1, "one numbering across the streams");
        let timestamp: f64 = row[2].parse().unwrap();
        assert!(timestamp > previous, "time goes on across the reconnection at row {}", i + 1);
        previous = timestamp;
    }
}

/// `--max-seconds` holds for the whole session: the reopened camera gets what the lost one left.
#[test]
fn a_reopened_camera_gets_what_is_left_of_the_session_time() {
    let spec = SynthSpec { seconds: 3.0, micro_events: 0, macro_events: 0, ..SynthSpec::default() };
    let first = UnpluggedCamera::new(spec.clone(), 40).unwrap(); // its last frame at 39 / 30 fps = 1.3 s
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig { ring_capacity: 64, max_seconds: Some(2.0), ..PipelineConfig::default() };
    let recorder = session_recorder(dir.path(), &first, &config, false);
    let reopen = || -> Result<Box<dyn Source>, CaptureError> { Ok(Box::new(UnpluggedCamera::new(spec.clone(), 60)?)) };
    let reconnect = Reconnect { reopen: &reopen, every: Duration::from_millis(10) };
    let outcome =
        analyse_into(Box::new(first), config, recorder, false, &StopFlag::default(), Some(reconnect)).expect("ends on its own");
    let warning = outcome.warnings.join("\n");
    assert!(warning.contains("lost 1 time(s)") && warning.contains("came back"), "{warning}");
    let rows = std::fs::read_to_string(dir.path().join("frames.csv")).unwrap().lines().count() - 1;
    // 0.7 s left for the second stream: its frames 0-21 at 30 fps (21 / 30 s on the boundary),
    // not the 60 it would give.
    assert!((40 + 21..=40 + 22).contains(&rows), "{rows} rows");
}

/// `frames.csv` as maps from column name to value, the measured rows only.
fn measured_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, f32>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(Result::unwrap)
        .filter(|row| &row[4] == "1")
        .map(|row| header.iter().zip(row.iter()).filter_map(|(h, v)| Some((h.clone(), v.parse().ok()?))).collect())
        .collect()
}

/// The default alignment (`level`) on a head rolled by 12 degrees: the crop keeps the box's scale
/// and turns the face so that its eyes are level; `--align-by box` leaves them tilted.
#[test]
fn by_default_a_tilted_head_is_turned_level_in_the_crop() {
    use glimpse::face::{BoxF, Similarity, eye_line_roll};

    let dir = tempfile::tempdir().unwrap();
    let (video, truth) = (dir.path().join("tilted.mp4"), dir.path().join("truth.csv"));
    let synth = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["synth", "--seconds", "3", "--events", "0", "--macro-events", "0", "--roll", "12", "--out"])
        .arg(&video)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let (by_default, by_box) = (dir.path().join("default"), dir.path().join("box"));
    let runs: [(&std::path::Path, &[&str]); 2] = [(&by_default, &[]), (&by_box, &["--align-by", "box"])];
    for (out, extra) in runs {
        let mut args = vec!["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = glimpse(&args);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(by_default.join("session.json")).unwrap()).unwrap();
    assert_eq!(session["settings"]["align_by"], "Level", "{}", session["settings"]);

    // The eye line's angle in the crop, in degrees, frame by frame.
    let eye_line_in_crop = |dir: &std::path::Path| -> Vec<f32> {
        let rows = measured_rows(&dir.join("frames.csv"));
        assert!(rows.len() > 60, "{} measured rows", rows.len());
        rows.iter()
            .map(|row| {
                let t = Similarity { a: row["align_a"], b: row["align_b"], tx: row["align_tx"], ty: row["align_ty"] };
                let in_crop: [[f32; 2]; 68] = std::array::from_fn(|i| t.apply([row[&format!("x_{i}")], row[&format!("y_{i}")]]));
                // The scale is the box's: the turn happens about the box's centre.
                let bbox = BoxF { x: row["face_x"], y: row["face_y"], width: row["face_w"], height: row["face_h"] };
                assert!((t.scale() - Similarity::from_box(&bbox, 128.0).scale()).abs() < 1e-3 * t.scale(), "{t:?}");
                eye_line_roll(&in_crop).to_degrees()
            })
            .collect()
    };
    let level = eye_line_in_crop(&by_default);
    let tilted = eye_line_in_crop(&by_box);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(level.iter().all(|a| a.abs() < 4.0), "eye line in the default crop: {level:?}");
    assert!(mean(&level).abs() < 1.5, "mean eye line in the default crop {}", mean(&level));
    assert!((mean(&tilted).abs() - 12.0).abs() < 4.0, "mean eye line in the box crop {}", mean(&tilted));
}

#[test]
fn frames_csv_records_the_alignment_and_landmark_alignment_is_steady_and_level() {
    use glimpse::face::{Aligner, BoxF, Similarity, eye_centres};

    let dir = tempfile::tempdir().unwrap();
    let (video, truth) = (dir.path().join("face.mp4"), dir.path().join("truth.csv"));
    synth::synth_video(&video, &truth, 6, 2, 0, 11);
    let (by_box, by_landmarks) = (dir.path().join("box"), dir.path().join("landmarks"));
    for (out, by) in [(&by_box, "box"), (&by_landmarks, "landmarks")] {
        let run = glimpse(&["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--align-by", by]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let similarity = |row: &std::collections::HashMap<String, f32>| Similarity {
        a: row["align_a"],
        b: row["align_b"],
        tx: row["align_tx"],
        ty: row["align_ty"],
    };

    // The box alignment is the box's calibrated transform.
    for row in measured_rows(&by_box.join("frames.csv")) {
        let bbox = BoxF { x: row["face_x"], y: row["face_y"], width: row["face_w"], height: row["face_h"] };
        let (got, want) = (similarity(&row), Similarity::from_box(&bbox, 128.0));
        let (p, q) = (got.apply(bbox.centre().into()), want.apply(bbox.centre().into()));
        assert!((p[0] - q[0]).abs() < 0.02 && (p[1] - q[1]).abs() < 0.02 && (got.a - want.a).abs() < 1e-3, "{got:?} {want:?}");
    }

    // The landmark alignment puts the eyes level where the template has them, and jitters less
    // from frame to frame than a fit to each frame's landmarks would.
    let rows = measured_rows(&by_landmarks.join("frames.csv"));
    assert!(rows.len() > 150, "{} measured rows", rows.len());
    let aligner = Aligner::new(128);
    let template = aligner.template();
    let centre = |points: &[[f32; 2]]| {
        let n = points.len() as f32;
        points.iter().fold([0.0, 0.0], |c, p| [c[0] + p[0] / n, c[1] + p[1] / n])
    };
    let (template_right, template_left) = eye_centres(&template);
    // Where one frame point (the first measured frame's face centre) lands in the crop, frame by
    // frame, by each transform.
    let first: [[f32; 2]; 68] = std::array::from_fn(|i| [rows[0][&format!("x_{i}")], rows[0][&format!("y_{i}")]]);
    let anchor = centre(&first);
    let (mut steady_track, mut fit_track) = (Vec::new(), Vec::new());
    for row in &rows {
        let points: [[f32; 2]; 68] = std::array::from_fn(|i| [row[&format!("x_{i}")], row[&format!("y_{i}")]]);
        let (steady, fit) = (similarity(row), aligner.fit(&points).unwrap());
        let (right, left) = eye_centres(&points);
        let (right, left) = (steady.apply(right), steady.apply(left));
        assert!((right[1] - left[1]).abs() < 1.0, "eyes not level in the crop: {right:?} {left:?}");
        for (got, want) in [(right, template_right), (left, template_left)] {
            assert!((got[0] - want[0]).hypot(got[1] - want[1]) < 3.0, "eye at {got:?}, template {want:?}");
        }
        steady_track.push(steady.apply(anchor));
        fit_track.push(fit.apply(anchor));
    }
    // Jitter: the second difference, which the head's slow motion hardly has.
    let jitter = |track: &[[f32; 2]]| -> Vec<f32> {
        track.windows(3).map(|w| (w[2][0] - 2.0 * w[1][0] + w[0][0]).hypot(w[2][1] - 2.0 * w[1][1] + w[0][1])).collect()
    };
    let (steady_steps, fit_steps) = (jitter(&steady_track), jitter(&fit_track));
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(
        mean(&steady_steps) < 0.6 * mean(&fit_steps),
        "jitter {} crop px steady, {} for the per-frame fit",
        mean(&steady_steps),
        mean(&fit_steps)
    );
}
