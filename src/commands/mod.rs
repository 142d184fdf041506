//! What each CLI command does. `main.rs` only parses arguments and calls in here.

pub mod analyse;
pub mod bench;
pub mod eval;
pub mod eval_flow;
pub mod info;
pub mod live;
pub mod report;
pub mod review;
pub mod synth;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::CaptureError;
use crate::inference::InferenceError;
use crate::pipeline::PipelineError;
use crate::session::SessionError;
use crate::synth::SynthError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Synth(#[from] SynthError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
    #[error("cannot create output folder '{path}': {source}")]
    OutputDir { path: PathBuf, source: std::io::Error },
    #[error("cannot read folder '{path}': {source}")]
    ReadDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write '{path}': {source}")]
    WriteFile { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error(transparent)]
    Window(#[from] crate::ui::UiError),
    #[error("{what} needs a window and there is no display (DISPLAY/WAYLAND_DISPLAY unset)")]
    NoDisplay { what: &'static str },
    #[error("{what} needs the MER model: {why}")]
    NoMerModel { what: &'static str, why: String },
}

/// Set by Ctrl-C: long-running commands stop reading their source, finish what they have and
/// write it out.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag that Ctrl-C raises (installed once per process; later calls share it).
    pub fn on_ctrl_c() -> Self {
        static FLAG: std::sync::OnceLock<StopFlag> = std::sync::OnceLock::new();
        FLAG.get_or_init(|| {
            let flag = StopFlag::default();
            let raised = flag.clone();
            if let Err(error) = ctrlc::set_handler(move || raised.raise()) {
                tracing::warn!("Ctrl-C will not stop cleanly: {error}");
            }
            flag
        })
        .clone()
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The MER model for a pipeline: `models/mer.onnx` when it is there and ONNX Runtime loads.
/// Without a runtime the analysis still runs (events get no emotion) and `warnings` says why; a
/// model file that is there but broken is an error naming the file.
pub fn recognition_model(warnings: &mut Vec<String>) -> Result<Option<PathBuf>, CommandError> {
    let path = info::models_dir().join(crate::inference::MER_FILE);
    if !path.is_file() {
        warnings.push(format!("no MER model at {}: events get no emotion", path.display()));
        return Ok(None);
    }
    if let Err(error) = crate::inference::runtime() {
        warnings.push(format!("{error}; events get no emotion"));
        return Ok(None);
    }
    crate::inference::Recogniser::load(&path)?;
    Ok(Some(path))
}

/// Creates an output folder; a new one is private to the user (it will hold faces).
pub(crate) fn create_dir(path: &std::path::Path) -> Result<(), CommandError> {
    crate::session::create_private_dir(path).map_err(|source| CommandError::OutputDir { path: path.to_owned(), source })
}
