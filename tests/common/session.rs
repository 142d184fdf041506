//! A session folder recorded with the real binary, as review opens it: `glimpse analyse
//! synthetic --record` writes the video, frames.csv, events.csv, session.eaf and session.json.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Records `dir/session` from a 12-s synthetic face (seed 3); returns the folder.
pub fn recorded_session(dir: &Path) -> PathBuf {
    let session = dir.join("session");
    let args =
        ["analyse", "synthetic", "--seconds", "12", "--events", "4", "--macro-events", "1", "--seed", "3", "--record", "--out"];
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).arg(&session).output().expect("the binary runs");
    assert!(output.status.success(), "glimpse {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    session
}
