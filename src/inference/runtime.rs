//! Finding and loading the ONNX Runtime library, once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::InferenceError;

/// The loaded runtime: the library it came from and the process's one ort environment, which
/// sessions are built from and which must live as long as they do.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub library: PathBuf,
    pub environment: ort::environment::Environment,
}

/// Folders that may hold the project's `.venv` and `models/`: the working directory, then the
/// folders above the executable (a checkout's root is above `target/release/glimpse`).
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    roots
}

/// Candidate places for `libonnxruntime.so`, in the order they are tried.
fn library_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return vec![PathBuf::from(path)];
    }
    let mut candidates = Vec::new();
    for root in search_roots() {
        let lib_dir = root.join(".venv").join("lib");
        let Ok(pythons) = std::fs::read_dir(&lib_dir) else {
            candidates.push(lib_dir.join("python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"));
            continue;
        };
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            let Ok(files) = std::fs::read_dir(&capi) else { continue };
            let mut libraries: Vec<PathBuf> = files
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
                .collect();
            libraries.sort();
            candidates.extend(libraries);
        }
    }
    candidates
}

/// Finds the runtime library without loading it.
pub fn locate_runtime() -> Result<PathBuf, InferenceError> {
    let candidates = library_candidates();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| InferenceError::RuntimeMissing { searched: candidates.iter().map(|p| p.display().to_string()).collect() })
}

/// Set to `1` before ONNX Runtime initialises, it turns the runtime's telemetry off completely
/// (ONNX Runtime >= 1.29 on Linux); the API switch alone leaves the start-up upload.
pub const TELEMETRY_OFF_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

static RUNTIME: OnceLock<Result<Runtime, InferenceError>> = OnceLock::new();

/// Loads ONNX Runtime once per process; later calls return the first outcome.
pub fn runtime() -> Result<&'static Runtime, InferenceError> {
    RUNTIME
        .get_or_init(|| {
            let library = locate_runtime()?;
            let load_error = |reason: String| InferenceError::RuntimeLoad { path: library.clone(), reason };
            let builder = ort::init_from(&library).map_err(|e| load_error(e.to_string()))?;
            // Microsoft's builds (the PyPI wheel) send usage telemetry unless told not to; glimpse
            // opens no network connection (tests/recording.rs checks it with strace). The API
            // switch covers what follows; `TELEMETRY_OFF_VARIABLE` (set by `main`) what precedes.
            let environment =
                builder.with_name("glimpse").with_telemetry(false).build().map_err(|e| load_error(e.to_string()))?;
            Ok(Runtime { library, environment })
        })
        .as_ref()
        .map_err(Clone::clone)
}
