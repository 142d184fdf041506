//! `frames.csv`: one row per analysed frame in OpenFace's layout (`frame,face_id,timestamp,
//! confidence,success`, frames numbered from 1, seconds, no spaces, then the 68 landmarks
//! `x_0..x_67,y_0..y_67` in frame pixels), then glimpse's own columns: capture time, face box,
//! the alignment (frame -> crop similarity), head motion, region motion, the spotter's score (robust z-score of the most-moving region;
//! blank where it cannot judge), its threshold and whether a candidate is open, and the class
//! probabilities of the latest recognised micro-expression.
//!
//! Each row reaches the file in one `write` call as soon as its frame is analysed, so a crash or
//! a full disk leaves every earlier row intact.

use std::path::Path;

use crate::inference::MER_CLASSES;
use crate::motion::Region;
use crate::pipeline::FrameAnalysis;

use super::{RowFile, SessionError, Timeline};

pub const FRAMES_CSV: &str = "frames.csv";

/// The column names, in order.
pub fn frames_csv_header() -> Vec<String> {
    let mut columns: Vec<String> =
        ["frame", "face_id", "timestamp", "confidence", "success"].into_iter().map(String::from).collect();
    columns.extend((0..68).map(|i| format!("x_{i}")));
    columns.extend((0..68).map(|i| format!("y_{i}")));
    columns.push("capture_ns".into());
    columns.extend(["face_x", "face_y", "face_w", "face_h"].map(String::from));
    columns.extend(["align_a", "align_b", "align_tx", "align_ty"].map(String::from));
    columns.extend(["motion_ref_frame", "head_tx", "head_ty", "head_rot", "head_scale"].map(String::from));
    columns.extend(Region::ALL.iter().map(|region| format!("motion_{}", region.name())));
    columns.extend(["spot_score", "spot_threshold", "spot_active"].map(String::from));
    columns.extend(MER_CLASSES.iter().map(|class| format!("p_{class}")));
    columns
}

pub struct FramesCsvWriter {
    file: RowFile,
    last_frame: u64,
}

impl FramesCsvWriter {
    /// Creates (truncates) `path`, readable by its owner only, and writes the header.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        let mut writer = Self { file: RowFile::create(path)?, last_frame: 0 };
        let header =
            super::csv_row(&frames_csv_header()).map_err(|source| SessionError::Format { path: path.to_owned(), source })?;
        writer.write_row(&header, 0)?;
        Ok(writer)
    }

    /// The frame number of the last row written.
    pub fn last_frame(&self) -> u64 {
        self.last_frame
    }

    /// Appends a row made by [`frame_row`] for frame number `frame`.
    pub fn write_row(&mut self, row: &[u8], frame: u64) -> Result<(), SessionError> {
        self.file.append(row).map_err(|source| SessionError::Write {
            path: self.file.path().to_owned(),
            last_frame: self.last_frame,
            source,
        })?;
        self.last_frame = frame;
        Ok(())
    }
}

/// One frame's `frames.csv` row, numbered and timed on `timeline`.
pub fn frame_row(analysis: &FrameAnalysis, timeline: &Timeline) -> Result<Vec<u8>, csv::Error> {
    let number = |value: f32| format!("{value:.4}");
    let mut fields = vec![
        timeline.frame_number(analysis.index).to_string(),
        analysis.face.as_ref().map_or(0, |face| face.id).to_string(),
        format!("{:.6}", timeline.seconds(analysis.time.seconds)),
        format!("{:.3}", analysis.confidence),
        u8::from(analysis.success).to_string(),
    ];
    match analysis.face.as_ref().and_then(|face| face.landmarks.as_ref()) {
        Some(landmarks) => {
            fields.extend(landmarks.points.iter().map(|p| format!("{:.3}", p[0])));
            fields.extend(landmarks.points.iter().map(|p| format!("{:.3}", p[1])));
        }
        None => fields.extend(std::iter::repeat_n(String::new(), 136)),
    }
    fields.push(analysis.time.capture_ns.to_string());
    match &analysis.face {
        Some(face) => fields.extend([face.bbox.x, face.bbox.y, face.bbox.width, face.bbox.height].map(|v| format!("{v:.2}"))),
        None => fields.extend(std::iter::repeat_n(String::new(), 4)),
    }
    match &analysis.to_crop {
        // Enough digits for a thousandth of a crop pixel anywhere in a 4K frame.
        Some(t) => fields.extend([format!("{:.7}", t.a), format!("{:.7}", t.b), format!("{:.4}", t.tx), format!("{:.4}", t.ty)]),
        None => fields.extend(std::iter::repeat_n(String::new(), 4)),
    }
    match &analysis.motion {
        Some(motion) => {
            let m = &motion.measurement;
            fields.push(timeline.frame_number(motion.reference_index).to_string());
            fields.extend([m.head.tx, m.head.ty, m.head.rotation_deg, m.head.scale].map(number));
            fields.extend(m.regions.values.iter().map(|region| number(region.magnitude)));
        }
        None => fields.extend(std::iter::repeat_n(String::new(), 5 + Region::ALL.len())),
    }
    let spot = &analysis.spot;
    fields.push(spot.score.map(|s| format!("{s:.3}")).unwrap_or_default());
    fields.push(format!("{:.2}", spot.threshold));
    fields.push(u8::from(spot.active).to_string());
    match analysis.probabilities {
        Some(p) => fields.extend(p.map(|p| format!("{p:.4}"))),
        None => fields.extend(std::iter::repeat_n(String::new(), MER_CLASSES.len())),
    }
    super::csv_row(&fields)
}
