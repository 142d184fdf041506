//! Every user-facing failure gets a clear message that names the input and what is wrong, no
//! panic, and a non-zero exit when it is fatal. Runs the real binary.

use std::path::Path;
use std::process::{Command, Output};

use opencv::core::{Mat, Scalar, Size};
use opencv::prelude::*;
use opencv::videoio::{VideoWriter, VideoWriterTrait};

fn glimpse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_clean_failure(output: &Output, needles: &[&str]) {
    let text = stderr(output);
    assert!(!output.status.success(), "should fail: {text}");
    assert!(!text.contains("panicked"), "must not panic: {text}");
    for needle in needles {
        assert!(text.contains(needle), "message should mention {needle:?}: {text}");
    }
}

#[test]
fn missing_video_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = glimpse(&["analyse", "/no/such/clip.mp4", "--out", out.to_str().unwrap()]);
    assert_clean_failure(&output, &["/no/such/clip.mp4", "does not exist"]);
}

#[test]
fn unreadable_video_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("garbage.mp4");
    std::fs::write(&bogus, b"this is not a video, just some bytes".repeat(100)).unwrap();
    let output = glimpse(&["analyse", bogus.to_str().unwrap(), "--out", dir.path().join("out").to_str().unwrap()]);
    assert_clean_failure(&output, &["garbage.mp4", "cannot open video"]);

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let output = glimpse(&["analyse", empty.to_str().unwrap(), "--out", dir.path().join("out").to_str().unwrap()]);
    assert_clean_failure(&output, &["empty.mp4", "empty"]);
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let output = glimpse(&["analyse"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("Usage"));

    let output = glimpse(&["analyse", "camera:x", "--out", "/tmp/never"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("camera:x") && stderr(&output).contains("camera index"), "{}", stderr(&output));

    let output = glimpse(&["synth", "--out", "/tmp/x.mp4", "--truth", "/tmp/x.csv", "--fps", "0"]);
    assert_clean_failure(&output, &["fps"]);
}

#[test]
fn unwritable_output_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("out");
    let output = glimpse(&[
        "analyse",
        "synthetic",
        "--seconds",
        "3",
        "--events",
        "1",
        "--macro-events",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&output, &["a-file/out"]);
}

#[test]
fn no_camera_is_a_clear_error() {
    let listing = glimpse(&["cameras"]);
    assert!(listing.status.success(), "{}", stderr(&listing));
    if !String::from_utf8_lossy(&listing.stdout).contains("no camera found") {
        eprintln!("a camera is attached: the no-camera case cannot be checked on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = glimpse(&["analyse", "camera", "--out", dir.path().to_str().unwrap()]);
    assert_clean_failure(&output, &["no camera found", "`synthetic`"]);
}

#[test]
fn missing_or_broken_onnx_runtime_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .arg("models")
        .env("ORT_DYLIB_PATH", "/no/such/libonnxruntime.so")
        .output()
        .unwrap();
    assert_clean_failure(&output, &["ONNX Runtime library not found", "/no/such/libonnxruntime.so", "setup.sh"]);

    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse")).arg("models").env("ORT_DYLIB_PATH", &fake).output().unwrap();
    assert_clean_failure(&output, &["cannot load the ONNX Runtime library", fake.to_str().unwrap()]);
}

/// A short video with no face in it: flat grey with noise.
fn write_faceless_video(path: &Path) {
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(path.to_str().unwrap(), fourcc, 25.0, Size::new(320, 240), true).unwrap();
    assert!(writer.is_opened().unwrap());
    for i in 0..20 {
        let mut frame = Mat::new_rows_cols_with_default(240, 320, opencv::core::CV_8UC3, Scalar::all(90.0 + i as f64)).unwrap();
        let mut noise = Mat::new_rows_cols_with_default(240, 320, opencv::core::CV_8UC3, Scalar::all(0.0)).unwrap();
        opencv::core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(30.0)).unwrap();
        let mut noisy = Mat::default();
        opencv::core::add_def(&frame, &noise, &mut noisy).unwrap();
        frame = noisy;
        writer.write(&frame).unwrap();
    }
    writer.release().unwrap();
}

#[test]
fn no_face_in_view_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("empty_room.avi");
    write_faceless_video(&video);
    let out = dir.path().join("out");
    let output = glimpse(&["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("no face was found") && text.contains("empty_room.avi"), "{text}");
    let csv = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|row| row.split(',').nth(4) == Some("0")), "success must be 0 without a face");
}

#[test]
fn a_broken_or_missing_landmark_model_is_named_and_a_missing_default_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken-landmarks.onnx");
    std::fs::write(&broken, b"not a model").unwrap();
    let out = dir.path().join("out");
    let args = |model: &str| {
        ["analyse", "synthetic", "--seconds", "1", "--events", "0", "--macro-events", "0", "--landmarks", model, "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.to_str().unwrap().to_owned()])
            .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, models: &Path| {
        Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).env("GLIMPSE_MODELS", models).output().unwrap()
    };
    assert_clean_failure(&run(args(broken.to_str().unwrap()), dir.path()), &["broken-landmarks.onnx", "cannot load model"]);
    let missing = dir.path().join("nope.onnx");
    assert_clean_failure(&run(args(missing.to_str().unwrap()), dir.path()), &["nope.onnx", "does not exist"]);

    // `auto` with no model in the models folder: box alignment, a warning, empty landmark columns.
    let empty = dir.path().join("no-models");
    std::fs::create_dir(&empty).unwrap();
    let output = run(args("auto"), &empty);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("landmarks.onnx not found"), "{}", stderr(&output));
    let text = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    let row = text.lines().nth(10).unwrap();
    assert_eq!(row.split(',').nth(4), Some("1"), "{row}");
    assert!(row.split(',').skip(5).take(136).all(str::is_empty), "{row}");
}

#[test]
fn flow_methods_are_selectable_and_a_missing_flow_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = |flow: &str, models: &Path| {
        Command::new(env!("CARGO_BIN_EXE_glimpse"))
            .args(["analyse", "synthetic", "--seconds", "1", "--events", "0", "--macro-events", "0", "--flow", flow, "--out"])
            .arg(&out)
            .env("GLIMPSE_MODELS", models)
            .output()
            .unwrap()
    };
    let empty = dir.path().join("no-models");
    std::fs::create_dir(&empty).unwrap();
    assert_clean_failure(&run("onnx", &empty), &["flow.onnx", "does not exist"]);
    assert_clean_failure(&run("onnx-vr", &empty), &["flow.onnx", "does not exist"]);
    let output = run("optical", &empty);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("unknown flow method 'optical'"), "{}", stderr(&output));

    // The shipped model runs the pipeline end to end, and session.json says which flow ran.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let output = run("onnx", &models);
    assert!(output.status.success(), "{}", stderr(&output));
    let session = std::fs::read_to_string(out.join("session.json")).unwrap();
    assert!(session.contains("\"flow\": \"onnx\""), "{session}");
    let output = run("onnx-vr", &models);
    assert!(output.status.success(), "{}", stderr(&output));
    let session = std::fs::read_to_string(out.join("session.json")).unwrap();
    assert!(session.contains("\"flow\": \"onnx-vr\""), "{session}");
}

#[test]
fn scoring_emotions_without_the_mer_model_names_the_missing_file() {
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["eval", "spotting", "--seeds", "1", "--seconds", "4", "--no-videos", "--mer"])
        .env("GLIMPSE_MODELS", empty.path())
        .output()
        .unwrap();
    assert_clean_failure(&output, &["--mer needs the MER model", "mer.onnx"]);
}
