//! ONNX Runtime set-up and the project's models (landmarks, flow, MER), kept apart from the
//! top-level `models/` folder that holds the ONNX files themselves.
//!
//! ort loads the runtime library at run time (`load-dynamic`): it comes from the `onnxruntime`
//! wheel in the project's `.venv`, or from wherever `ORT_DYLIB_PATH` points. Each model is
//! checked against its contract (input and output names and shapes) when it is loaded.

mod contract;
mod mer;
mod runtime;

pub use contract::{Contract, TensorSpec, load_session};
pub use mer::{MER_CLASSES, MER_INPUT_SHAPE, Recogniser};
pub use runtime::{Runtime, locate_runtime, runtime, search_roots};

use std::path::PathBuf;

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
