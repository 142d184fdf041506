//! A session folder made with the real binary, as review opens it: `glimpse synth` then
//! `glimpse analyse`, the video copied in as the recorder would write it (analysing a file from
//! its start gives the video's own time line, so frame i of the copy is row i of frames.csv).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes `dir/session` from a 12-s synthetic video (seed 3); returns the folder.
pub fn recorded_session(dir: &Path) -> PathBuf {
    let video = dir.join("face.mp4");
    let truth = dir.join("truth.csv");
    let session = dir.join("session");
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("the binary runs");
        assert!(output.status.success(), "glimpse {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    run(&[
        "synth",
        "--out",
        video.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--seconds",
        "12",
        "--events",
        "4",
        "--macro-events",
        "1",
        "--seed",
        "3",
    ]);
    run(&["analyse", video.to_str().unwrap(), "--out", session.to_str().unwrap()]);
    std::fs::copy(&video, session.join("video.mp4")).expect("the video copies");
    session
}
