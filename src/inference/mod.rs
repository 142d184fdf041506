//! ONNX Runtime set-up and the project's models (landmarks, flow, MER), kept apart from the
//! top-level `models/` folder that holds the ONNX files themselves.
//!
//! ort loads the runtime library at run time (`load-dynamic`): it comes from the `onnxruntime`
//! wheel in the project's `.venv`, or from wherever `ORT_DYLIB_PATH` points. Each model is
//! checked against its contract (input and output names and shapes) when it is loaded.

mod contract;
mod flow;
mod landmarks;
mod mer;
mod runtime;
mod sha256;

pub use contract::{Contract, TensorSpec, load_session};
pub use flow::{FLOW_CROP, OnnxFlow};
pub use landmarks::{LANDMARK_COUNT, LANDMARK_CROP, Landmarker};
pub use mer::{MER_CLASSES, MER_INPUT_SHAPE, Recogniser};
pub use runtime::{Runtime, TELEMETRY_OFF_VARIABLE, locate_runtime, runtime, search_roots};
pub use sha256::{Sha256, sha256_file, sha256_hex};

use std::path::{Path, PathBuf};

/// The landmark model's file name in `models/`.
pub const LANDMARKS_FILE: &str = "landmarks.onnx";
/// The optical-flow model's file name in `models/`.
pub const FLOW_FILE: &str = "flow.onnx";
/// The MER model's file name in `models/`.
pub const MER_FILE: &str = "mer.onnx";

/// `$GLIMPSE_MODELS`, else `models/` in the working directory or above the executable (a
/// checkout's `target/release/glimpse`), else `models` (which may not exist).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLIMPSE_MODELS") {
        return PathBuf::from(dir);
    }
    search_roots().into_iter().map(|root| root.join("models")).find(|dir| dir.is_dir()).unwrap_or_else(|| PathBuf::from("models"))
}

/// A model file as `glimpse models` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// The contract it is checked against (`None`: the project has no runtime for it yet).
    pub contract: Option<String>,
    /// Loaded and checked against its contract.
    pub loaded: bool,
    /// Why it did not load (or that it is absent).
    pub problem: Option<String>,
}

/// Looks at one model file: present, its hash, and whether it loads under its contract.
pub fn inspect_model(name: &str, path: &Path) -> ModelInfo {
    let mut info = ModelInfo {
        name: name.to_owned(),
        path: path.to_owned(),
        bytes: None,
        sha256: None,
        contract: None,
        loaded: false,
        problem: None,
    };
    let contract = match name {
        LANDMARKS_FILE => Some(landmarks::LANDMARK_CONTRACT),
        FLOW_FILE => Some(flow::FLOW_CONTRACT),
        MER_FILE => Some(mer::MER_CONTRACT),
        _ => None,
    };
    info.contract = contract.map(|c| c.describe());
    let Ok(meta) = std::fs::metadata(path) else {
        info.problem = Some(InferenceError::ModelMissing { path: path.to_owned() }.to_string());
        return info;
    };
    info.bytes = Some(meta.len());
    info.sha256 = sha256_file(path).ok();
    match contract {
        Some(contract) => match load_session(path, &contract, 1) {
            Ok(_) => info.loaded = true,
            Err(error) => info.problem = Some(error.to_string()),
        },
        None => info.problem = Some("no runtime contract yet".into()),
    }
    info
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime library not found (looked at: {}); run ./scripts/setup.sh to install the onnxruntime wheel into .venv, or set ORT_DYLIB_PATH to libonnxruntime.so",
        searched.join(", ")
    )]
    RuntimeMissing { searched: Vec<String> },
    #[error("cannot load the ONNX Runtime library '{path}': {reason}")]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("model file '{path}' does not exist")]
    ModelMissing { path: PathBuf },
    #[error("cannot load model '{path}': {reason}")]
    ModelLoad { path: PathBuf, reason: String },
    #[error("model '{path}' does not match its contract: {what} should be {expected}, found {found}")]
    Contract { path: PathBuf, what: String, expected: String, found: String },
    #[error("running model '{path}' failed: {reason}")]
    Run { path: PathBuf, reason: String },
}
