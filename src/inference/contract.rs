//! Model contracts: the names and shapes a model's inputs and outputs must have, checked when the
//! model is loaded so that a wrong file is refused with a message, not misread.

use std::path::Path;

use ort::session::Session;
use ort::value::ValueType;

use super::{InferenceError, runtime};

/// One tensor of a contract. `None` in `shape` is a dimension of any size (the batch).
#[derive(Debug, Clone, Copy)]
pub struct TensorSpec {
    pub name: &'static str,
    pub shape: &'static [Option<i64>],
}

#[derive(Debug, Clone, Copy)]
pub struct Contract {
    pub inputs: &'static [TensorSpec],
    pub outputs: &'static [TensorSpec],
    /// The runtime runs one sample per call: the batch dimension (named `N` in our models) is
    /// fixed to 1 at load, so that ONNX Runtime folds the graph's shape arithmetic away (a
    /// quarter of flow.onnx's nodes; the same outputs, a few per cent faster).
    pub one_at_a_time: bool,
}

/// The name our exports give the batch dimension.
const BATCH_DIMENSION: &str = "N";

impl Contract {
    /// `name [N, 1, 96, 96] -> name [N, 68, 2]`.
    pub fn describe(&self) -> String {
        let side = |specs: &[TensorSpec]| {
            specs.iter().map(|s| format!("{} {}", s.name, describe(s.shape))).collect::<Vec<_>>().join(", ")
        };
        format!("{} -> {}", side(self.inputs), side(self.outputs))
    }
}

fn describe(shape: &[Option<i64>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("N".into(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

fn describe_found(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(|&d| if d < 0 { "N".into() } else { d.to_string() }).collect();
    format!("[{}]", dims.join(", "))
}

fn check(path: &Path, kind: &str, specs: &[TensorSpec], found: &[ort::value::Outlet]) -> Result<(), InferenceError> {
    let mismatch =
        |what: String, expected: String, found: String| InferenceError::Contract { path: path.to_owned(), what, expected, found };
    let names = || found.iter().map(|o| o.name().to_owned()).collect::<Vec<_>>().join(", ");
    if found.len() != specs.len() {
        return Err(mismatch(
            format!("the number of {kind}s"),
            specs.len().to_string(),
            format!("{} ({})", found.len(), names()),
        ));
    }
    for (spec, outlet) in specs.iter().zip(found) {
        if outlet.name() != spec.name {
            return Err(mismatch(format!("the {kind} name"), format!("'{}'", spec.name), format!("'{}'", outlet.name())));
        }
        let ValueType::Tensor { shape, .. } = outlet.dtype() else {
            return Err(mismatch(format!("{kind} '{}'", spec.name), "a tensor".into(), format!("{:?}", outlet.dtype())));
        };
        let fits = shape.len() == spec.shape.len()
            && shape.iter().zip(spec.shape).all(|(&got, want)| match want {
                Some(want) => got == *want,
                None => true,
            });
        if !fits {
            return Err(mismatch(format!("the shape of {kind} '{}'", spec.name), describe(spec.shape), describe_found(shape)));
        }
    }
    Ok(())
}

/// Loads a model with ONNX Runtime and checks it against its contract.
pub fn load_session(path: &Path, contract: &Contract, threads: usize) -> Result<Session, InferenceError> {
    if !path.is_file() {
        return Err(InferenceError::ModelMissing { path: path.to_owned() });
    }
    let runtime = runtime()?;
    let load_error = |reason: String| InferenceError::ModelLoad { path: path.to_owned(), reason };
    let mut builder = Session::builder(&runtime.environment)
        .and_then(|builder| builder.with_intra_threads(threads.max(1)).map_err(Into::into))
        .and_then(|builder| {
            if contract.one_at_a_time {
                builder.with_dimension_override(BATCH_DIMENSION, 1).map_err(Into::into)
            } else {
                Ok(builder)
            }
        })
        .map_err(|e| load_error(e.to_string()))?;
    #[cfg(feature = "cuda")]
    with_cuda(&mut builder);
    let session = builder.commit_from_file(path).map_err(|e| load_error(e.to_string()))?;
    check(path, "input", contract.inputs, session.inputs())?;
    check(path, "output", contract.outputs, session.outputs())?;
    Ok(session)
}

/// Puts a session on the GPU through ONNX Runtime's CUDA execution provider (the `cuda` cargo
/// feature). Where it cannot register (a CPU-only ONNX Runtime, no CUDA or cuDNN libraries, no
/// GPU) the session runs on the CPU and a warning says why, once.
#[cfg(feature = "cuda")]
fn with_cuda(builder: &mut ort::session::builder::SessionBuilder) {
    use ort::ep::ExecutionProvider;
    static REPORTED: std::sync::Once = std::sync::Once::new();
    match ort::ep::CUDA::default().register(builder) {
        Ok(()) => REPORTED.call_once(|| tracing::info!("models run on the GPU (CUDA execution provider)")),
        Err(error) => {
            REPORTED.call_once(|| tracing::warn!("CUDA execution provider unavailable ({error}): models run on the CPU"))
        }
    }
}
