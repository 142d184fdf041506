//! `glimpse eval flow`: end-point error and time per pair of each flow estimator on synthetic
//! face sequences, against the renderer's true motion.
//!
//! Each seed's synthetic face (`glimpse synth`, with head motion, noise and blinks) is cropped
//! as the pipeline does, into the 128-px canonical crop, here with one fixed crop (the rest-pose
//! face box) so that the head's own motion stays in the pair. Pairs are a frame and the frame
//! `lag_ms` (100 ms) before it, as the motion stage pairs them: every frame of each
//! micro-expression, and as many neutral pairs (no event, no blink) spread over the video. The
//! truth is [`SyntheticFace::point_motion`], mapped into the crop; pixels an eyelid covers in
//! either frame are left out. Frames are used as rendered (8-bit, camera noise), not H.264.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use opencv::core::{Mat, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

use super::CommandError;
use crate::face::{BoxF, Similarity};
use crate::motion::{FlowMethod, MotionConfig, MotionField};
use crate::pipeline::flow_estimator;
use crate::recognition::images::{RgbImage, hsv_to_rgb};
use crate::session::write_png;
use crate::spotting::EventKind;
use crate::synth::{SynthSpec, SyntheticFace};

/// The motion stage's crop side.
const CROP: i32 = 128;
/// Local (expression) motion at least this large marks the pixels of the `local` column.
const LOCAL_PX: f32 = 0.2;
/// The local pixels again, by the size of their true expression motion (crop px): where a
/// method gains or loses.
const LOCAL_BINS: [(f32, f32); 4] = [(LOCAL_PX, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, f32::INFINITY)];

#[derive(Debug, Clone)]
pub struct FlowEvalOptions {
    pub seeds: u64,
    /// Seeds `first_seed..first_seed + seeds`: 1 for the reported numbers, others (e.g. 101)
    /// for development, so that what is tried is not judged on the reported videos.
    pub first_seed: u64,
    pub seconds: f64,
    pub fps: f64,
    pub methods: Vec<FlowMethod>,
    /// Write each method's mean local EPE per crop pixel here (`<method>_local_epe.png`, one
    /// colour scale for all) and all of them in `local_epe.csv`: where on the face it errs.
    pub error_maps: Option<PathBuf>,
    /// Write the pairs themselves here (`pairs.json` and raw little-endian arrays), so that a
    /// candidate model can be scored on them from Python (`glimpse_train flow-synth-eval`)
    /// without rendering them again.
    pub save_pairs: Option<PathBuf>,
}

/// Top of the error maps' colour scale (crop px): the same for every method so that they compare.
const ERROR_MAP_MAX_PX: f64 = 0.3;

#[derive(Debug, Clone, serde::Serialize)]
pub struct FlowMethodResult {
    pub method: FlowMethod,
    /// Mean end-point error (crop px) over every pixel of every pair.
    pub epe_all: f64,
    /// Over the pixels of micro-expression pairs whose true expression motion is >= 0.2 px.
    pub epe_local: f64,
    /// Over every pixel of the neutral pairs (head motion and noise only).
    pub epe_neutral: f64,
    /// `epe_local` by the true expression motion's size, one per [`LOCAL_BINS`] bin.
    pub epe_local_by_size: Vec<f64>,
    pub ms_per_pair_median: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FlowEvalReport {
    pub seeds: u64,
    pub first_seed: u64,
    pub seconds: f64,
    pub fps: f64,
    pub lag_frames: u64,
    pub micro_pairs: usize,
    pub neutral_pairs: usize,
    pub local_pixels: usize,
    /// Local pixels per [`LOCAL_BINS`] bin.
    pub local_pixels_by_size: Vec<usize>,
    pub methods: Vec<FlowMethodResult>,
}

/// One pair: the two crops and the true flow in crop pixels (`None` under an eyelid).
struct Pair {
    previous: Mat,
    current: Mat,
    truth: Vec<Option<[f32; 2]>>,
    /// True expression-only motion magnitude per pixel (0 in neutral pairs).
    local: Vec<f32>,
    micro: bool,
}

fn crop(frame: &Mat, to_crop: &Similarity) -> Result<Mat, CommandError> {
    let cv = |e: opencv::Error| CommandError::Pipeline(crate::motion::MotionError::OpenCv(e).into());
    let mut gray = Mat::default();
    imgproc::cvt_color_def(frame, &mut gray, imgproc::COLOR_BGR2GRAY).map_err(cv)?;
    let mut out = Mat::default();
    imgproc::warp_affine(
        &gray,
        &mut out,
        &to_crop.to_mat().map_err(cv)?,
        Size::new(CROP, CROP),
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_REPLICATE,
        Scalar::default(),
    )
    .map_err(cv)?;
    Ok(out)
}

fn pairs_for_seed(options: &FlowEvalOptions, seed: u64, lag: u64) -> Result<Vec<Pair>, CommandError> {
    let spec = SynthSpec { seed, seconds: options.seconds, fps: options.fps, ..SynthSpec::default() };
    let mut synth = SyntheticFace::new(spec)?;
    let [x, y, w, h] = synth.face_box();
    let to_crop = Similarity::from_box(&BoxF { x, y, width: w, height: h }, CROP as f32);
    let from_crop = to_crop.inverse();
    let side = CROP as usize;
    let points: Vec<[f32; 2]> = (0..side * side).map(|i| from_crop.apply([(i % side) as f32, (i / side) as f32])).collect();

    let frames = synth.frame_count();
    let quiet = |synth: &SyntheticFace, i: u64| synth.active_event(i).is_none() && synth.blink_closure(i) == 0.0;
    let mut chosen: Vec<(u64, bool)> = Vec::new();
    for event in synth.truth().iter().filter(|e| e.kind == EventKind::Micro) {
        // 1-based frame numbers in the truth; `to` is 0-based.
        for to in event.onset_frame.saturating_sub(1).max(lag)..event.offset_frame.min(frames) {
            if synth.blink_closure(to) == 0.0 && synth.blink_closure(to - lag) == 0.0 {
                chosen.push((to, true));
            }
        }
    }
    let micro = chosen.len();
    let neutral: Vec<u64> = (lag..frames).filter(|&i| quiet(&synth, i) && quiet(&synth, i - lag)).collect();
    let step = (neutral.len() / micro.max(1)).max(1);
    chosen.extend(neutral.iter().step_by(step).take(micro.max(1)).map(|&i| (i, false)));

    let mut pairs = Vec::new();
    for (to, is_micro) in chosen {
        let from = to - lag;
        let moved = synth.point_motion(from, to, &points, true);
        let head = synth.point_motion(from, to, &points, false);
        let mut truth = Vec::with_capacity(points.len());
        let mut local = Vec::with_capacity(points.len());
        for (i, (m, h)) in moved.iter().zip(&head).enumerate() {
            let c = [(i % side) as f32, (i / side) as f32];
            match (m, h) {
                (Some(m), Some(h)) => {
                    let (cm, ch) = (to_crop.apply(*m), to_crop.apply(*h));
                    truth.push(Some([cm[0] - c[0], cm[1] - c[1]]));
                    local.push((cm[0] - ch[0]).hypot(cm[1] - ch[1]));
                }
                _ => {
                    truth.push(None);
                    local.push(0.0);
                }
            }
        }
        let previous = crop(&synth.render(from)?, &to_crop)?;
        let current = crop(&synth.render(to)?, &to_crop)?;
        pairs.push(Pair { previous, current, truth, local, micro: is_micro });
    }
    Ok(pairs)
}

/// Mean end-point error over the pixels `keep` accepts (and the truth covers): (sum, count).
fn epe(field: &MotionField, pair: &Pair, keep: impl Fn(usize) -> bool) -> (f64, usize) {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (i, truth) in pair.truth.iter().enumerate() {
        if let Some([u, v]) = truth
            && keep(i)
        {
            sum += ((field.u[i] - u) as f64).hypot((field.v[i] - v) as f64);
            n += 1;
        }
    }
    (sum, n)
}

/// Per crop pixel: the summed end-point error over the local pixels of the micro pairs, and how many.
struct ErrorMap {
    sum: Vec<f64>,
    count: Vec<u32>,
}

impl ErrorMap {
    fn new() -> Self {
        let n = (CROP * CROP) as usize;
        ErrorMap { sum: vec![0.0; n], count: vec![0; n] }
    }

    fn add(&mut self, field: &MotionField, pair: &Pair) {
        for (i, truth) in pair.truth.iter().enumerate() {
            if let Some([u, v]) = truth
                && pair.local[i] >= LOCAL_PX
            {
                self.sum[i] += ((field.u[i] - u) as f64).hypot((field.v[i] - v) as f64);
                self.count[i] += 1;
            }
        }
    }

    fn mean(&self, i: usize) -> Option<f64> {
        (self.count[i] > 0).then(|| self.sum[i] / self.count[i] as f64)
    }
}

/// The pairs as `previous.u8`, `current.u8` ([pairs,128,128] crops), `truth.f32` ([pairs,2,128,128]
/// u then v, NaN under an eyelid), `local.f32` ([pairs,128,128] expression motion) and `micro.u8`
/// ([pairs], 1 for a micro-expression pair), described by `pairs.json`.
fn save_pairs(dir: &Path, pairs: &[Pair], report: &serde_json::Value) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|source| CommandError::OutputDir { path: dir.to_path_buf(), source })?;
    let side = CROP as usize;
    let cv = |e: opencv::Error| CommandError::Pipeline(crate::motion::MotionError::OpenCv(e).into());
    let (mut previous, mut current, mut truth, mut local, mut micro) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for pair in pairs {
        for (out, crop) in [(&mut previous, &pair.previous), (&mut current, &pair.current)] {
            let crop = crop.try_clone().map_err(cv)?;
            out.extend_from_slice(crop.data_bytes().map_err(cv)?);
        }
        for component in 0..2 {
            truth.extend(pair.truth.iter().flat_map(|t| t.map_or(f32::NAN, |t| t[component]).to_le_bytes()));
        }
        local.extend(pair.local.iter().flat_map(|l| l.to_le_bytes()));
        micro.push(u8::from(pair.micro));
    }
    let description = serde_json::json!({
        "pairs": pairs.len(), "side": side, "local_px": LOCAL_PX,
        "files": {"previous.u8": "u8 [pairs,side,side]", "current.u8": "u8 [pairs,side,side]",
                  "truth.f32": "f32 [pairs,2,side,side] (u, v; NaN under an eyelid)",
                  "local.f32": "f32 [pairs,side,side]", "micro.u8": "u8 [pairs]"},
        "evaluation": report,
    });
    let files = [
        ("previous.u8", previous),
        ("current.u8", current),
        ("truth.f32", truth),
        ("local.f32", local),
        ("micro.u8", micro),
        ("pairs.json", serde_json::to_vec_pretty(&description).unwrap_or_default()),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| CommandError::WriteFile { path, source })?;
    }
    Ok(())
}

/// The maps, the CSV, and `crop.png`: the first pair's earlier crop, the face the maps lie on.
fn write_error_maps(dir: &Path, maps: &[(FlowMethod, ErrorMap)], face: Option<&Mat>) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|source| CommandError::OutputDir { path: dir.to_path_buf(), source })?;
    let side = CROP as usize;
    if let Some(face) = face {
        let image =
            RgbImage::from_gray_mat(face).map_err(|e| CommandError::Pipeline(crate::motion::MotionError::OpenCv(e).into()))?;
        write_png(&dir.join("crop.png"), &image)?;
    }
    for (method, map) in maps {
        // Black where no local motion was measured; otherwise blue (0 px) to red (the scale's top).
        let pixels = (0..side * side)
            .flat_map(|i| match map.mean(i) {
                Some(mean) => hsv_to_rgb(240.0 * (1.0 - (mean / ERROR_MAP_MAX_PX).min(1.0)) as f32, 1.0, 1.0),
                None => [0; 3],
            })
            .collect();
        let path = dir.join(format!("{method}_local_epe.png"));
        write_png(&path, &RgbImage { width: side, height: side, pixels })?;
    }
    let path = dir.join("local_epe.csv");
    let mut csv = String::from("x,y,pairs");
    for (method, _) in maps {
        let _ = write!(csv, ",{method}");
    }
    csv.push('\n');
    for i in 0..side * side {
        let Some((_, first)) = maps.first() else { break };
        if first.count[i] == 0 {
            continue;
        }
        let _ = write!(csv, "{},{},{}", i % side, i / side, first.count[i]);
        for (_, map) in maps {
            let _ = write!(csv, ",{:.5}", map.mean(i).unwrap_or(f64::NAN));
        }
        csv.push('\n');
    }
    std::fs::write(&path, csv).map_err(|source| CommandError::WriteFile { path, source })
}

pub fn run(options: &FlowEvalOptions) -> Result<FlowEvalReport, CommandError> {
    let lag = ((MotionConfig::default().lag_ms / 1000.0 * options.fps).round() as u64).max(1);
    let mut pairs = Vec::new();
    for seed in options.first_seed..options.first_seed + options.seeds {
        pairs.extend(pairs_for_seed(options, seed, lag)?);
    }
    let mut methods = Vec::new();
    let mut maps = Vec::new();
    for &method in &options.methods {
        let mut estimator = flow_estimator(method)?;
        let (mut all, mut neutral) = ((0.0, 0), (0.0, 0));
        let mut by_size = [(0.0, 0); LOCAL_BINS.len()];
        let mut times = Vec::with_capacity(pairs.len());
        let mut map = ErrorMap::new();
        for pair in &pairs {
            let started = Instant::now();
            let field = estimator.estimate(&pair.previous, &pair.current).map_err(crate::pipeline::PipelineError::from)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            let add = |acc: &mut (f64, usize), (s, n): (f64, usize)| {
                acc.0 += s;
                acc.1 += n;
            };
            add(&mut all, epe(&field, pair, |_| true));
            if pair.micro {
                map.add(&field, pair);
                for (acc, &(low, high)) in by_size.iter_mut().zip(&LOCAL_BINS) {
                    add(acc, epe(&field, pair, |i| pair.local[i] >= low && pair.local[i] < high));
                }
            } else {
                add(&mut neutral, epe(&field, pair, |_| true));
            }
        }
        maps.push((method, map));
        times.sort_by(f64::total_cmp);
        let mean = |(s, n): (f64, usize)| if n > 0 { s / n as f64 } else { f64::NAN };
        // The bins cover every local pixel (>= LOCAL_PX) once.
        let local = by_size.iter().fold((0.0, 0), |(s, n), &(bs, bn)| (s + bs, n + bn));
        methods.push(FlowMethodResult {
            method,
            epe_all: mean(all),
            epe_local: mean(local),
            epe_neutral: mean(neutral),
            epe_local_by_size: by_size.into_iter().map(mean).collect(),
            ms_per_pair_median: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        });
    }
    if let Some(dir) = &options.error_maps {
        write_error_maps(dir, &maps, pairs.first().map(|p| &p.previous))?;
    }
    let count = |low: f32, high: f32| {
        let local = pairs.iter().filter(|p| p.micro).flat_map(|p| p.truth.iter().zip(&p.local));
        local.filter(|(truth, l)| truth.is_some() && **l >= low && **l < high).count()
    };
    let local_pixels = count(LOCAL_PX, f32::INFINITY);
    let local_pixels_by_size = LOCAL_BINS.iter().map(|&(low, high)| count(low, high)).collect();
    let report = FlowEvalReport {
        seeds: options.seeds,
        first_seed: options.first_seed,
        seconds: options.seconds,
        fps: options.fps,
        lag_frames: lag,
        micro_pairs: pairs.iter().filter(|p| p.micro).count(),
        neutral_pairs: pairs.iter().filter(|p| !p.micro).count(),
        local_pixels,
        local_pixels_by_size,
        methods,
    };
    if let Some(dir) = &options.save_pairs {
        save_pairs(dir, &pairs, &serde_json::to_value(&report).unwrap_or_default())?;
    }
    Ok(report)
}

pub fn format(report: &FlowEvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "synthetic: {} videos (seeds {}-{}) x {:.0} s at {:.0} fps; pairs {} frames apart: {} in micro-expressions ({} px of local motion >= {LOCAL_PX} px), {} neutral; EPE in crop px",
        report.seeds,
        report.first_seed,
        report.first_seed + report.seeds - 1,
        report.seconds,
        report.fps,
        report.lag_frames,
        report.micro_pairs,
        report.local_pixels,
        report.neutral_pairs
    );
    let bins: Vec<String> = LOCAL_BINS
        .iter()
        .map(|&(low, high)| if high.is_finite() { format!("{low}-{high} px") } else { format!(">= {low} px") })
        .collect();
    let _ = write!(out, "{:<10} {:>9} {:>10} {:>12} {:>10}", "flow", "EPE all", "EPE local", "EPE neutral", "ms/pair");
    for bin in &bins {
        let _ = write!(out, " {:>11}", format!("local {bin}"));
    }
    let _ = writeln!(out);
    for m in &report.methods {
        let _ = write!(
            out,
            "{:<10} {:>9.4} {:>10.4} {:>12.4} {:>10.2}",
            m.method.to_string(),
            m.epe_all,
            m.epe_local,
            m.epe_neutral,
            m.ms_per_pair_median
        );
        for epe in &m.epe_local_by_size {
            let _ = write!(out, " {epe:>11.4}");
        }
        let _ = writeln!(out);
    }
    let counts: Vec<String> = bins.iter().zip(&report.local_pixels_by_size).map(|(b, n)| format!("{b}: {n}")).collect();
    let _ = writeln!(out, "local pixels by the size of their expression motion: {}", counts.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::prelude::MatTraitConst;

    #[test]
    fn scores_each_method_against_the_renderers_motion_by_size() {
        let maps = tempfile::tempdir().unwrap();
        let options = FlowEvalOptions {
            seeds: 1,
            first_seed: 1,
            seconds: 15.0,
            fps: 30.0,
            methods: vec![FlowMethod::Dis, FlowMethod::Farneback],
            error_maps: Some(maps.path().join("maps")),
            save_pairs: Some(maps.path().join("pairs")),
        };
        let report = run(&options).unwrap();
        assert!(report.micro_pairs > 0 && report.neutral_pairs > 0, "{report:?}");
        assert_eq!(report.local_pixels_by_size.iter().sum::<usize>(), report.local_pixels);
        for m in &report.methods {
            // Sub-pixel accuracy on a face moving by up to a few pixels: the truth and the
            // crops agree on where things are.
            assert!(m.epe_all < 0.2 && m.epe_local < 0.5 && m.epe_neutral < 0.2, "{m:?}");
            assert_eq!(m.epe_local_by_size.len(), LOCAL_BINS.len());
        }
        let table = format(&report);
        assert!(table.contains("dis ") && table.contains("farneback") && table.contains("local 1-2 px"), "{table}");

        // The maps hold the same errors: their pair-weighted mean is each method's local EPE.
        let dir = maps.path().join("maps");
        for name in ["crop.png", "dis_local_epe.png", "farneback_local_epe.png"] {
            let image = opencv::imgcodecs::imread(dir.join(name).to_str().unwrap(), opencv::imgcodecs::IMREAD_COLOR).unwrap();
            assert_eq!((image.rows(), image.cols()), (CROP, CROP), "{name}");
        }
        let csv = std::fs::read_to_string(dir.join("local_epe.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("x,y,pairs,dis,farneback"));
        let (mut pairs, mut sums) = (0.0, [0.0; 2]);
        for line in lines {
            let values: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            pairs += values[2];
            for (sum, mean) in sums.iter_mut().zip(&values[3..]) {
                *sum += values[2] * mean;
            }
        }
        assert_eq!(pairs as usize, report.local_pixels);
        for (m, sum) in report.methods.iter().zip(sums) {
            assert!((sum / pairs - m.epe_local).abs() < 1e-4, "{} {m:?}", sum / pairs);
        }

        // The saved pairs are the ones scored: every pair, and its local pixels as counted.
        let saved = maps.path().join("pairs");
        let description: serde_json::Value = serde_json::from_slice(&std::fs::read(saved.join("pairs.json")).unwrap()).unwrap();
        let n = report.micro_pairs + report.neutral_pairs;
        assert_eq!(description["pairs"], n);
        let pixels = (CROP * CROP) as u64;
        for (name, bytes_per_pair) in [
            ("previous.u8", pixels),
            ("current.u8", pixels),
            ("truth.f32", 8 * pixels),
            ("local.f32", 4 * pixels),
            ("micro.u8", 1),
        ] {
            assert_eq!(std::fs::metadata(saved.join(name)).unwrap().len(), n as u64 * bytes_per_pair, "{name}");
        }
        let micro = std::fs::read(saved.join("micro.u8")).unwrap();
        assert_eq!(micro.iter().filter(|&&m| m == 1).count(), report.micro_pairs);
        let floats = |name: &str| -> Vec<f32> {
            std::fs::read(saved.join(name)).unwrap().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        let (truth, local) = (floats("truth.f32"), floats("local.f32"));
        let p = pixels as usize;
        let counted = (0..n)
            .filter(|&k| micro[k] == 1)
            .flat_map(|k| (0..p).map(move |i| (k, i)))
            .filter(|&(k, i)| !truth[k * 2 * p + i].is_nan() && local[k * p + i] >= LOCAL_PX)
            .count();
        assert_eq!(counted, report.local_pixels);
    }

    #[test]
    fn development_seeds_are_other_videos() {
        let options = |first_seed| FlowEvalOptions {
            seeds: 1,
            first_seed,
            seconds: 15.0,
            fps: 30.0,
            methods: vec![FlowMethod::Farneback],
            error_maps: None,
            save_pairs: None,
        };
        let (reported, development) = (run(&options(1)).unwrap(), run(&options(101)).unwrap());
        assert_ne!(reported.local_pixels, development.local_pixels);
        assert!(format(&development).contains("seeds 101-101"));
    }
}
