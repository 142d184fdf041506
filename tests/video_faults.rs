//! Damaged video files: truncated, or with garbage in the middle. `glimpse analyse` ends with an
//! error that names the file and where it broke, and `frames.csv` keeps every frame before the
//! damage. Runs the real binary on files made by `glimpse synth`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{CAP_FFMPEG, VideoCapture};

#[path = "common/synth.rs"]
mod synth;

fn glimpse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("the binary runs")
}

/// A 6-second synthetic face video (`.avi`: MJPEG, `.mp4`: H.264).
fn make_video(dir: &Path, name: &str) -> PathBuf {
    let video = dir.join(name);
    let truth = dir.join("truth.csv");
    synth::synth_video(&video, &truth, 6, 1, 0, 1);
    video
}

/// Frames OpenCV decodes from the start of `video` before the first failure.
fn decodable_prefix(video: &Path) -> usize {
    let mut capture = VideoCapture::from_file(video.to_str().unwrap(), CAP_FFMPEG).unwrap();
    let mut frame = Mat::default();
    let mut frames = 0;
    while capture.read(&mut frame).unwrap_or(false) && !frame.empty() {
        frames += 1;
    }
    frames
}

/// Analyses `video`, expecting a clean failure that names it and says `what`; returns the rows
/// of frames.csv.
fn analyse_expecting_failure(video: &Path, out: &Path, what: &str) -> Vec<csv::StringRecord> {
    let output = glimpse(&["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--no-event-images"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a damaged file must fail: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let name = video.file_name().unwrap().to_str().unwrap();
    let error = stderr.lines().find(|line| line.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains(name) && error.contains(what), "{error}");
    let mut reader = csv::Reader::from_path(out.join("frames.csv")).unwrap();
    reader.records().map(Result::unwrap).collect()
}

fn assert_rows_are_the_first_frames(rows: &[csv::StringRecord], expected: usize) {
    assert!(expected > 0, "the damage must leave some frames to analyse");
    assert_eq!(rows.len(), expected, "every frame before the damage is in frames.csv");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].parse::<usize>().unwrap(), i + 1, "frames numbered 1.. without a gap");
    }
}

#[test]
fn a_truncated_video_is_an_error_and_keeps_the_frames_before() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "cut.avi");
    let bytes = std::fs::read(&video).unwrap();
    std::fs::write(&video, &bytes[..bytes.len() / 2]).unwrap();
    let decodable = decodable_prefix(&video);
    assert!(decodable < 180, "half the file cannot hold all 180 frames ({decodable})");
    let rows = analyse_expecting_failure(&video, &dir.path().join("out"), "truncated");
    assert_rows_are_the_first_frames(&rows, decodable);

    // An MP4 keeps its index at the end: cut, it cannot be opened at all, and says so.
    let mp4 = make_video(dir.path(), "cut.mp4");
    let bytes = std::fs::read(&mp4).unwrap();
    std::fs::write(&mp4, &bytes[..bytes.len() / 2]).unwrap();
    let output = glimpse(&["analyse", mp4.to_str().unwrap(), "--out", dir.path().join("out-mp4").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("cut.mp4") && stderr.contains("cannot open video"), "{stderr}");
}

#[test]
fn garbage_in_the_middle_is_an_error_and_keeps_the_frames_before() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["garbled.avi", "garbled.mp4"] {
        let video = make_video(dir.path(), name);
        let mut bytes = std::fs::read(&video).unwrap();
        let middle = bytes.len() / 2;
        // Deterministic noise over 20 kB from the middle on.
        let mut state = 0x9e37_79b9_u32;
        for byte in &mut bytes[middle..middle + 20_000] {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *byte = state as u8;
        }
        std::fs::write(&video, &bytes).unwrap();
        let decodable = decodable_prefix(&video);
        assert!(decodable < 180, "{name}: the garbage must stop the decoder ({decodable} frames)");
        let rows = analyse_expecting_failure(&video, &dir.path().join(format!("out-{name}")), "corrupt");
        assert_rows_are_the_first_frames(&rows, decodable);
    }
}
