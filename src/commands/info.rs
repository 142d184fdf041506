//! `glimpse cameras` and `glimpse models`: what the machine offers.

use std::fmt::Write;

use crate::capture::list_cameras;
use crate::inference::{FLOW_FILE, LANDMARKS_FILE, MER_FILE, inspect_model, runtime};

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
pub const MODEL_FILES: [&str; 3] = [LANDMARKS_FILE, FLOW_FILE, MER_FILE];

pub use crate::inference::models_dir;

/// The runtime library and, for each model file: path, size, sha256, contract and whether it
/// loaded under it. Fails when ONNX Runtime cannot load.
pub fn models() -> Result<String, CommandError> {
    let runtime = runtime()?;
    let mut out = format!("ONNX Runtime: {}\n", runtime.library.display());
    let dir = models_dir();
    let _ = writeln!(out, "models folder: {}", dir.display());
    for name in MODEL_FILES {
        let info = inspect_model(name, &dir.join(name));
        let _ = writeln!(out, "{name}");
        let _ = writeln!(out, "  file:     {}", info.path.display());
        match (&info.bytes, &info.sha256) {
            (Some(bytes), Some(sha)) => {
                let _ = writeln!(out, "  size:     {bytes} bytes");
                let _ = writeln!(out, "  sha256:   {sha}");
            }
            (Some(bytes), None) => {
                let _ = writeln!(out, "  size:     {bytes} bytes (unreadable)");
            }
            _ => {}
        }
        if let Some(contract) = &info.contract {
            let _ = writeln!(out, "  contract: {contract}");
        }
        let status = match (info.loaded, &info.problem, info.bytes) {
            (true, _, _) => "loaded, contract checked".to_owned(),
            (false, _, None) => "not present (the pipeline runs without it)".to_owned(),
            (false, Some(problem), _) if info.contract.is_none() => format!("present, not used ({problem})"),
            (false, Some(problem), _) => format!("BROKEN: {problem}"),
            (false, None, _) => "not loaded".to_owned(),
        };
        let _ = writeln!(out, "  status:   {status}");
    }
    Ok(out)
}
