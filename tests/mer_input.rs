//! The Rust MER input equals the Python training preprocessing
//! (`models/training/glimpse_train/preprocess.py`) on the fixed synthetic pair saved by
//! `python -m glimpse_train.make_fixture`.

use std::path::Path;

use opencv::imgcodecs;

use glimpse::motion::MotionField;
use glimpse::recognition::{MER_SIZE, TvL1Flow, flow_to_mer_input, mer_input};

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/training/fixtures/preprocess_pair.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn numbers(value: &serde_json::Value, out: &mut Vec<f64>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|item| numbers(item, out)),
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("unexpected {other}"),
    }
}

fn stored_flow(fixture: &serde_json::Value) -> MotionField {
    let rows = fixture["flow"].as_array().unwrap();
    let (height, width) = (rows.len(), rows[0].as_array().unwrap().len());
    let mut values = Vec::new();
    numbers(&fixture["flow"], &mut values);
    let mut field = MotionField::zeros(width, height);
    for i in 0..width * height {
        field.u[i] = values[2 * i] as f32;
        field.v[i] = values[2 * i + 1] as f32;
    }
    field
}

fn max_difference(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
}

#[test]
fn flow_to_tensor_matches_python_within_1e_4() {
    let fixture = fixture();
    let mut expected = Vec::new();
    numbers(&fixture["tensor"], &mut expected);
    assert_eq!(expected.len(), 3 * MER_SIZE * MER_SIZE);
    let tensor = flow_to_mer_input(&stored_flow(&fixture)).unwrap();
    let tolerance = fixture["tolerance_flow_to_tensor"].as_f64().unwrap();
    let worst = max_difference(&tensor, &expected);
    assert!(worst <= tolerance, "largest difference {worst} > {tolerance}");
}

#[test]
fn tvl1_on_the_fixture_pair_agrees_with_the_python_flow() {
    let fixture = fixture();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/training/fixtures");
    let read = |name: &str| {
        let path = dir.join(fixture[name].as_str().unwrap());
        imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_GRAYSCALE).unwrap()
    };
    let (onset, apex) = (read("onset_png"), read("apex_png"));
    let mut tvl1 = TvL1Flow::new().unwrap();
    let ours = glimpse::motion::FlowEstimator::estimate(&mut tvl1, &onset, &apex).unwrap();
    let theirs = stored_flow(&fixture);
    // The flow comes from two OpenCV builds (Debian's 4.6 here, the wheel's in Python): same
    // algorithm and parameters, so the fields agree closely, not bit for bit.
    let n = ours.u.len() as f64;
    let mean_error = ours
        .u
        .iter()
        .zip(&ours.v)
        .zip(theirs.u.iter().zip(&theirs.v))
        .map(|((u, v), (tu, tv))| ((u - tu) as f64).hypot((v - tv) as f64))
        .sum::<f64>()
        / n;
    assert!(mean_error < 0.05, "mean end-point difference {mean_error} px");
    let input = mer_input(&mut tvl1, &onset, &apex).unwrap();
    let mut expected = Vec::new();
    numbers(&fixture["tensor"], &mut expected);
    let worst = max_difference(&input, &expected);
    eprintln!("TV-L1 across OpenCV builds: mean EPE {mean_error:.4} px, largest input difference {worst:.3} of 255");
}
