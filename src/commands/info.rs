//! `glimpse cameras` and `glimpse models`: what the machine offers.

use std::fmt::Write;
use std::path::PathBuf;

use crate::capture::list_cameras;
use crate::inference::{Recogniser, runtime, search_roots};

use super::CommandError;

pub fn cameras() -> Result<String, CommandError> {
    let cameras = list_cameras()?;
    if cameras.is_empty() {
        return Ok("no camera found (the synthetic source and video files still work)\n".into());
    }
    let mut out = String::new();
    for camera in cameras {
        let _ = writeln!(out, "camera:{}  {}  ({})", camera.index, camera.name, camera.description);
    }
    Ok(out)
}

/// The model files glimpse uses, by name.
pub const MODEL_FILES: [&str; 3] = ["landmarks.onnx", "flow.onnx", "mer.onnx"];

/// `models/` next to the working directory or above the executable (a checkout's
/// `target/release/glimpse`), or `$GLIMPSE_MODELS`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLIMPSE_MODELS") {
        return PathBuf::from(dir);
    }
    search_roots()
        .into_iter()
        .map(|root| root.join("models"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// The runtime library and each model file's presence. Fails when ONNX Runtime cannot load.
pub fn models() -> Result<String, CommandError> {
    let runtime = runtime()?;
    let mut out = format!("ONNX Runtime: {}\n", runtime.library.display());
    let dir = models_dir();
    let _ = writeln!(out, "models folder: {}", dir.display());
    for name in MODEL_FILES {
        let path = dir.join(name);
        let state = match (name, std::fs::metadata(&path)) {
            (_, Err(_)) => "not present (not trained yet; the pipeline runs without it)".into(),
            ("mer.onnx", Ok(meta)) => match Recogniser::load(&path) {
                Ok(_) => format!("{} bytes, loaded, contract [N,3,28,28] -> [N,3] checked", meta.len()),
                Err(error) => format!("BROKEN: {error}"),
            },
            (_, Ok(meta)) => format!("{} bytes (no runtime contract yet)", meta.len()),
        };
        let _ = writeln!(out, "  {name:<16} {state}");
    }
    Ok(out)
}
