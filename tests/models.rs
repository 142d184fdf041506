//! Every ONNX model in `models/` loads through ort and reproduces, on fixed inputs, the outputs
//! onnxruntime gave in Python at export time (the golden files beside each model).

use std::path::{Path, PathBuf};

use glimpse::inference::{InferenceError, MER_CLASSES, Recogniser};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn flatten(value: &serde_json::Value, out: &mut Vec<f32>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        serde_json::Value::Number(n) => out.push(n.as_f64().expect("a number") as f32),
        other => panic!("unexpected value in golden file: {other}"),
    }
}

#[test]
fn mer_model_reproduces_its_golden_outputs() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("mer.golden.json")).unwrap()).unwrap();
    let classes: Vec<&str> = golden["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(classes, MER_CLASSES);
    let tolerance = golden["tolerance"].as_f64().unwrap() as f32;
    let mut recogniser = Recogniser::load(&models_dir().join("mer.onnx")).unwrap();
    let cases = golden["inputs"].as_array().unwrap();
    assert!(!cases.is_empty());
    for (case, expected) in cases.iter().zip(golden["logits"].as_array().unwrap()) {
        let mut input = Vec::new();
        flatten(case, &mut input);
        let mut want = Vec::new();
        flatten(expected, &mut want);
        let got = recogniser.logits(&input).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= tolerance, "logits {got:?} vs golden {want:?}");
        }
        let p = recogniser.probabilities(&input).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn missing_corrupt_or_wrong_length_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mer.onnx");
    match Recogniser::load(&missing) {
        Err(InferenceError::ModelMissing { path }) => assert_eq!(path, missing),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a missing model must be refused"),
    }
    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"definitely not protobuf").unwrap();
    let error = Recogniser::load(&corrupt).err().expect("a corrupt model must be refused").to_string();
    assert!(error.contains("corrupt.onnx") && error.contains("cannot load model"), "{error}");

    let mut recogniser = Recogniser::load(&models_dir().join("mer.onnx")).unwrap();
    let error = recogniser.logits(&[0.0; 10]).unwrap_err().to_string();
    assert!(error.contains("10 values") && error.contains("2352"), "{error}");
}

#[test]
fn a_model_of_the_wrong_shape_is_refused_with_both_shapes() {
    use glimpse::inference::{Contract, TensorSpec, load_session};
    const LANDMARKS_LIKE: Contract = Contract {
        inputs: &[TensorSpec { name: "motion", shape: &[None, Some(1), Some(128), Some(128)] }],
        outputs: &[TensorSpec { name: "logits", shape: &[None, Some(3)] }],
    };
    let path = models_dir().join("mer.onnx");
    let error = load_session(&path, &LANDMARKS_LIKE, 1).err().expect("the shapes differ").to_string();
    assert!(error.contains("mer.onnx"), "{error}");
    assert!(error.contains("[N, 1, 128, 128]") && error.contains("[N, 3, 28, 28]"), "{error}");
}
