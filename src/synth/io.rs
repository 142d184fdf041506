//! Truth CSV and video output.

use std::path::{Path, PathBuf};
use std::time::Instant;

use opencv::core::Size;
use opencv::prelude::*;
use opencv::videoio::VideoWriter;
use serde::Serialize;

use super::{CvContext, EventKind, SynthError, SynthSpec, SyntheticFace, TruthEvent};

/// Column names of the truth CSV (the same as the analyser's events.csv).
pub const TRUTH_HEADER: [&str; 12] = [
    "event_id",
    "type",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset_ms",
    "apex_ms",
    "offset_ms",
    "duration_ms",
    "aus",
    "emotion",
    "amplitude_px",
];

/// Writes `events` as CSV with [`TRUTH_HEADER`]; frames are 1-based, times in ms with 3
/// decimals, amplitude in px with 3 decimals.
pub fn write_truth_csv(path: &Path, events: &[TruthEvent]) -> Result<(), SynthError> {
    let csv_err = |source| SynthError::Csv { path: path.to_path_buf(), source };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    w.write_record(TRUTH_HEADER).map_err(csv_err)?;
    for e in events {
        w.write_record([
            e.event_id.to_string(),
            e.kind.to_string(),
            e.onset_frame.to_string(),
            e.apex_frame.to_string(),
            e.offset_frame.to_string(),
            format!("{:.3}", e.onset_ms),
            format!("{:.3}", e.apex_ms),
            format!("{:.3}", e.offset_ms),
            format!("{:.3}", e.duration_ms),
            e.aus.clone(),
            e.emotion.to_string(),
            format!("{:.3}", e.amplitude_px),
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(|source| SynthError::Io { path: path.to_path_buf(), source })?;
    Ok(())
}

/// Reads a truth CSV written by [`write_truth_csv`] (columns located by name; `side` is taken
/// from an `L`/`R` prefix of `aus`).
pub fn read_truth_csv(path: &Path) -> Result<Vec<TruthEvent>, SynthError> {
    let csv_err = |source| SynthError::Csv { path: path.to_path_buf(), source };
    let bad = |detail: String| SynthError::TruthFormat { path: path.to_path_buf(), detail };
    let mut r = csv::Reader::from_path(path).map_err(csv_err)?;
    let headers = r.headers().map_err(csv_err)?.clone();
    let mut col = [0usize; 12];
    for (k, name) in TRUTH_HEADER.iter().enumerate() {
        col[k] = headers.iter().position(|h| h.trim() == *name).ok_or_else(|| bad(format!("missing column '{name}'")))?;
    }
    let mut out = Vec::new();
    for (row, rec) in r.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        let line = row + 2;
        let field = |k: usize| rec.get(col[k]).unwrap_or("").trim();
        fn num<T: std::str::FromStr>(s: &str, name: &str, line: usize) -> Result<T, String> {
            s.parse::<T>().map_err(|_| format!("line {line}: column '{name}' has a bad value '{s}'"))
        }
        let n = |k: usize| -> Result<f64, SynthError> { num::<f64>(field(k), TRUTH_HEADER[k], line).map_err(bad) };
        let f = |k: usize| -> Result<u64, SynthError> { num::<u64>(field(k), TRUTH_HEADER[k], line).map_err(bad) };
        let aus = field(9).to_string();
        let side = aus.chars().next().filter(|c| *c == 'L' || *c == 'R');
        out.push(TruthEvent {
            event_id: num::<u32>(field(0), "event_id", line).map_err(bad)?,
            kind: field(1).parse::<EventKind>().map_err(|e| bad(format!("line {line}: {e}")))?,
            onset_frame: f(2)?,
            apex_frame: f(3)?,
            offset_frame: f(4)?,
            onset_ms: n(5)?,
            apex_ms: n(6)?,
            offset_ms: n(7)?,
            duration_ms: n(8)?,
            emotion: field(10).parse().map_err(|e| bad(format!("line {line}: {e}")))?,
            amplitude_px: n(11)? as f32,
            aus,
            side,
        });
    }
    Ok(out)
}

/// What [`write_video`] produced.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    pub video: PathBuf,
    pub truth: PathBuf,
    pub frames: u64,
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    /// FourCC the writer opened with (`avc1`, `mp4v` or `MJPG`).
    pub fourcc: String,
    pub micro_events: usize,
    pub macro_events: usize,
    pub blinks: usize,
    /// Mean render time per frame (excluding encoding), ms.
    pub render_ms_per_frame: f64,
    /// Wall time of the whole run, s.
    pub elapsed_s: f64,
}

fn fourcc(code: &str) -> Result<i32, SynthError> {
    let c: Vec<char> = code.chars().collect();
    VideoWriter::fourcc(c[0], c[1], c[2], c[3]).cv("building a FourCC")
}

/// Opens a writer for `path`, choosing the codec from the extension: `.mp4`/`.m4v`/`.mov`/`.mkv`
/// -> `avc1` (H.264), falling back to `mp4v`; `.avi` -> `MJPG`. Returns the writer and the FourCC used.
pub fn open_writer(path: &Path, fps: f64, width: i32, height: i32) -> Result<(VideoWriter, String), SynthError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    let candidates: &[&str] = match ext.as_str() {
        "mp4" | "m4v" | "mov" | "mkv" => &["avc1", "mp4v"],
        "avi" => &["MJPG"],
        _ => {
            return Err(SynthError::VideoFormat { path: path.to_path_buf() });
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(SynthError::VideoOpen {
                path: path.to_path_buf(),
                detail: format!("directory {} does not exist", dir.display()),
            });
        }
    }
    let mut tried = Vec::new();
    for code in candidates {
        let cc = fourcc(code)?;
        match VideoWriter::new(path, cc, fps, Size::new(width, height), true) {
            Ok(w) if w.is_opened().unwrap_or(false) => return Ok((w, code.to_string())),
            Ok(_) => tried.push(format!("{code}: the writer did not open")),
            Err(e) => tried.push(format!("{code}: {e}")),
        }
    }
    Err(SynthError::VideoOpen {
        path: path.to_path_buf(),
        detail: format!(
            "no codec worked ({}) at {width}x{height}, {fps} fps; check that the location is writable and \
             that OpenCV was built with FFmpeg",
            tried.join("; ")
        ),
    })
}

/// Renders the whole video for `spec` into `video` and writes its truth CSV to `truth`.
/// `progress(done, total)` is called after every frame.
pub fn write_video(
    spec: &SynthSpec,
    video: &Path,
    truth: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SynthSummary, SynthError> {
    let start = Instant::now();
    let mut face = SyntheticFace::new(spec.clone())?;
    let (mut writer, code) = open_writer(video, spec.fps, spec.width, spec.height)?;
    let total = face.frame_count();
    let mut render_s = 0.0;
    for i in 0..total {
        let t0 = Instant::now();
        let frame = face.render(i)?;
        render_s += t0.elapsed().as_secs_f64();
        writer
            .write(&frame)
            .map_err(|e| SynthError::VideoOpen { path: video.to_path_buf(), detail: format!("writing frame {}: {e}", i + 1) })?;
        progress(i + 1, total);
    }
    writer
        .release()
        .map_err(|e| SynthError::VideoOpen { path: video.to_path_buf(), detail: format!("finishing the file: {e}") })?;
    write_truth_csv(truth, face.truth())?;
    let events = face.truth();
    Ok(SynthSummary {
        video: video.to_path_buf(),
        truth: truth.to_path_buf(),
        frames: total,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        fourcc: code,
        micro_events: events.iter().filter(|e| e.kind == EventKind::Micro).count(),
        macro_events: events.iter().filter(|e| e.kind == EventKind::Macro).count(),
        blinks: face.blinks().len(),
        render_ms_per_frame: if total > 0 { render_s * 1000.0 / total as f64 } else { 0.0 },
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}
