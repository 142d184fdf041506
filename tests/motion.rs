//! The motion stage recovers known motion: a sub-pixel shift of the whole face (head motion)
//! and a local smooth deformation at a mouth corner (an expression), each within 0.1 px. The
//! default flow (DIS) passes both; `flow.onnx` (v14) and `onnx-vr` neither: after a 0.6-px
//! shift the model leaves 0.13 px of motion at the brows, and on the 2-px push it is 0.11 px off
//! (`onnx-vr` 0.12; with flow v6, shipped before v8s, `onnx-vr` passed this one). See
//! `models/flow.md`, *Known limits*.

use opencv::core::{Mat, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

use glimpse::capture::{Frame, FrameTime, TimeBase};
use glimpse::face::template::CANONICAL_68;
use glimpse::face::{FaceConfig, FaceStage};
use glimpse::motion::{FlowMethod, MotionAnalyser, Region};

const CROP: i32 = 128;

/// The astronaut's face aligned into the canonical crop by the real face stage, then moved by
/// an extra sub-pixel shift.
fn astronaut_crop(shift_x: f64, shift_y: f64) -> Mat {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap();
    let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(&bytes), imgcodecs::IMREAD_COLOR).unwrap();
    let frame = Frame { index: 0, time: FrameTime { seconds: 0.0, base: TimeBase::Media, capture_ns: 0 }, image: image.clone() };
    let mut stage = FaceStage::new(FaceConfig::default()).unwrap();
    let aligned = stage.process(&frame).unwrap().aligned.expect("the astronaut's face is found");
    let t = aligned.to_crop;
    let transform =
        Mat::from_slice_2d(&[[t.a as f64, -t.b as f64, t.tx as f64 + shift_x], [t.b as f64, t.a as f64, t.ty as f64 + shift_y]])
            .unwrap();
    let mut gray = Mat::default();
    imgproc::cvt_color_def(&image, &mut gray, imgproc::COLOR_BGR2GRAY).unwrap();
    let mut crop = Mat::default();
    imgproc::warp_affine(
        &gray,
        &mut crop,
        &transform,
        Size::new(CROP, CROP),
        imgproc::INTER_CUBIC,
        opencv::core::BORDER_REFLECT,
        Scalar::default(),
    )
    .unwrap();
    crop
}

/// `image` deformed by a Gaussian bump of displacement `(dx, dy)` at `centre`: the returned
/// image's content at `x + d(x)` is the input's at `x`.
fn deform(image: &Mat, centre: [f32; 2], sigma: f32, (dx, dy): (f32, f32)) -> (Mat, Vec<(f32, f32)>) {
    let n = CROP as usize;
    let mut map_x = Mat::new_rows_cols_with_default(CROP, CROP, opencv::core::CV_32FC1, Scalar::all(0.0)).unwrap();
    let mut map_y = map_x.clone();
    let mut truth = vec![(0.0, 0.0); n * n];
    for y in 0..n {
        for x in 0..n {
            let r2 = (x as f32 - centre[0]).powi(2) + (y as f32 - centre[1]).powi(2);
            let w = (-r2 / (2.0 * sigma * sigma)).exp();
            truth[y * n + x] = (dx * w, dy * w);
            // Backward map: the source s of output pixel x solves s + d(s) = x (fixed point).
            let (mut sx, mut sy) = (x as f32, y as f32);
            for _ in 0..10 {
                let r2s = (sx - centre[0]).powi(2) + (sy - centre[1]).powi(2);
                let ws = (-r2s / (2.0 * sigma * sigma)).exp();
                (sx, sy) = (x as f32 - dx * ws, y as f32 - dy * ws);
            }
            *map_x.at_2d_mut::<f32>(y as i32, x as i32).unwrap() = sx;
            *map_y.at_2d_mut::<f32>(y as i32, x as i32).unwrap() = sy;
        }
    }
    let mut out = Mat::default();
    imgproc::remap(image, &mut out, &map_x, &map_y, imgproc::INTER_CUBIC, opencv::core::BORDER_REFLECT, Scalar::default())
        .unwrap();
    (out, truth)
}

/// The flows each test holds to 0.1 px.
const SHIFT_METHODS: [FlowMethod; 1] = [FlowMethod::Dis];
const DEFORMATION_METHODS: [FlowMethod; 1] = [FlowMethod::Dis];

fn analyser(method: FlowMethod) -> MotionAnalyser {
    MotionAnalyser::new(glimpse::pipeline::flow_estimator(method).unwrap(), CROP as usize)
}

#[test]
fn recovers_a_known_subpixel_shift_as_head_motion() {
    for method in SHIFT_METHODS {
        recovers_a_known_subpixel_shift_with(method);
    }
}

fn recovers_a_known_subpixel_shift_with(method: FlowMethod) {
    let mut analyser = analyser(method);
    for (sx, sy) in [(0.6, -0.35), (-1.3, 0.8), (2.5, 1.7)] {
        let previous = astronaut_crop(0.0, 0.0);
        let current = astronaut_crop(sx, sy);
        let m = analyser.measure(&previous, &current).unwrap();
        assert!(
            (m.head.tx as f64 - sx).abs() < 0.1 && (m.head.ty as f64 - sy).abs() < 0.1,
            "{method}: shift ({sx}, {sy}) measured as ({}, {})",
            m.head.tx,
            m.head.ty
        );
        for region in Region::ALL {
            let left = m.regions.get(region).magnitude;
            assert!(left < 0.1, "{method} {}: {left} px left after removing a pure shift", region.name());
        }
    }
}

#[test]
fn recovers_a_known_local_deformation_at_the_mouth_corner() {
    for method in DEFORMATION_METHODS {
        recovers_a_known_local_deformation_with(method);
    }
}

fn recovers_a_known_local_deformation_with(method: FlowMethod) {
    let mut analyser = analyser(method);
    let previous = astronaut_crop(0.0, 0.0);
    let corner = CANONICAL_68[54];
    for amplitude in [1.0f32, 2.0] {
        // Lip corner up and out, as in AU12.
        let push = (0.6 * amplitude, -0.8 * amplitude);
        let (current, truth) = deform(&previous, corner, 6.0, push);
        let m = analyser.measure(&previous, &current).unwrap();
        let pixels = analyser.masks().pixels(Region::MouthL);
        let n = pixels.len() as f32;
        let true_u = pixels.iter().map(|&i| truth[i].0).sum::<f32>() / n;
        let true_v = pixels.iter().map(|&i| truth[i].1).sum::<f32>() / n;
        let got = m.regions.get(Region::MouthL);
        assert!(
            (got.mean_u - true_u).abs() < 0.1 && (got.mean_v - true_v).abs() < 0.1,
            "{method} amplitude {amplitude}: mean motion ({}, {}) vs true ({true_u}, {true_v})",
            got.mean_u,
            got.mean_v
        );
        let true_magnitude = pixels.iter().map(|&i| truth[i].0.hypot(truth[i].1)).sum::<f32>() / n;
        assert!((got.magnitude - true_magnitude).abs() < 0.1, "{method}: magnitude {} vs {true_magnitude}", got.magnitude);
        for region in [Region::BrowR, Region::BrowL, Region::Nose, Region::MouthR] {
            let elsewhere = m.regions.get(region).magnitude;
            assert!(elsewhere < 0.1, "{method}: {} moved {elsewhere} px", region.name());
        }
        assert!(m.head.tx.abs() < 0.1 && m.head.ty.abs() < 0.1, "{method}: a local deformation is not head motion: {:?}", m.head);
    }
}
