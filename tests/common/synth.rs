//! Synthetic face videos made with the real binary (`glimpse synth`), as a user makes them.

use std::path::Path;
use std::process::Command;

/// Writes `video` (`.avi`: MJPEG, `.mp4`: H.264) and its truth table `truth`: `seconds` long,
/// with `events` micro- and `macro_events` macro-expressions drawn by `seed`.
pub fn synth_video(video: &Path, truth: &Path, seconds: u32, events: u32, macro_events: u32, seed: u64) {
    let counts = [seconds.to_string(), events.to_string(), macro_events.to_string(), seed.to_string()];
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .arg("synth")
        .arg("--out")
        .arg(video)
        .arg("--truth")
        .arg(truth)
        .args(["--seconds", &counts[0], "--events", &counts[1], "--macro-events", &counts[2], "--seed", &counts[3]])
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "glimpse synth: {}", String::from_utf8_lossy(&output.stderr));
}
