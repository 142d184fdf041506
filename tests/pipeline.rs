//! The pipeline end to end: `glimpse synth` then `glimpse analyse` on the file, and a source that
//! dies mid-stream (a camera unplugged) without losing what was already analysed.

use std::process::Command;

use glimpse::capture::UnpluggedCamera;
use glimpse::commands::StopFlag;
use glimpse::commands::analyse::analyse_source;
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
