//! `frames.csv`: one row per analysed frame in OpenFace's layout (`frame,face_id,timestamp,
//! confidence,success`, frames numbered from 1, seconds, no spaces, then the 68 landmarks
//! `x_0..x_67,y_0..y_67` in frame pixels), then glimpse's own columns: capture time, face box,
//! head motion, region motion, the spotter's score (robust z-score of the most-moving region;
//! blank where it cannot judge), its threshold and whether a candidate is open, and the class
//! probabilities of the latest recognised micro-expression.
//!
//! Each row reaches the file in one `write` call as soon as its frame is analysed, so a crash or
//! a full disk leaves every earlier row intact.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::inference::MER_CLASSES;
use crate::motion::Region;
use crate::pipeline::FrameAnalysis;

use super::SessionError;

pub const FRAMES_CSV: &str = "frames.csv";

/// The column names, in order.
pub fn frames_csv_header() -> Vec<String> {
    let mut columns: Vec<String> =
        ["frame", "face_id", "timestamp", "confidence", "success"].into_iter().map(String::from).collect();
    columns.extend((0..68).map(|i| format!("x_{i}")));
    columns.extend((0..68).map(|i| format!("y_{i}")));
    columns.push("capture_ns".into());
    columns.extend(["face_x", "face_y", "face_w", "face_h"].map(String::from));
    columns.extend(["motion_ref_frame", "head_tx", "head_ty", "head_rot", "head_scale"].map(String::from));
    columns.extend(Region::ALL.iter().map(|region| format!("motion_{}", region.name())));
    columns.extend(["spot_score", "spot_threshold", "spot_active"].map(String::from));
    columns.extend(MER_CLASSES.iter().map(|class| format!("p_{class}")));
    columns
}

pub struct FramesCsvWriter {
    path: PathBuf,
    file: File,
    last_frame: u64,
}

impl FramesCsvWriter {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        let file = File::create(path).map_err(|source| SessionError::Create { path: path.to_owned(), source })?;
        let mut writer = Self { path: path.to_owned(), file, last_frame: 0 };
        writer.write_record(frames_csv_header())?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, analysis: &FrameAnalysis) -> Result<(), SessionError> {
        let number = |value: f32| format!("{value:.4}");
        let mut fields = vec![
            (analysis.index + 1).to_string(),
            analysis.face.as_ref().map_or(0, |face| face.id).to_string(),
            format!("{:.6}", analysis.time.seconds),
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
        match &analysis.motion {
            Some(motion) => {
                let m = &motion.measurement;
                fields.push((motion.reference_index + 1).to_string());
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
        self.write_record(fields)?;
        self.last_frame = analysis.index + 1;
        Ok(())
    }

    fn write_record(&mut self, fields: Vec<String>) -> Result<(), SessionError> {
        let bytes = super::csv_row(&fields).map_err(|source| SessionError::Format { path: self.path.clone(), source })?;
        self.file.write_all(&bytes).map_err(|source| SessionError::Write {
            path: self.path.clone(),
            last_frame: self.last_frame,
            source,
        })
    }
}
