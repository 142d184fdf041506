//! `session.json`: what a session was made from, written when it starts: the software and its
//! version, the start time, the source, the settings and each model file used, with its sha256.

use std::path::Path;

use crate::capture::{Pacing, SourceInfo};
use crate::face::AlignBy;
use crate::inference::ModelInfo;
use crate::motion::MotionConfig;
use crate::pipeline::{LandmarkSetting, PipelineConfig};
use crate::spotting::SpotterConfig;

use super::SessionError;

pub const SESSION_JSON: &str = "session.json";

#[derive(Debug, serde::Serialize)]
pub struct SessionSettings {
    pub paced: bool,
    pub landmarks: LandmarkSetting,
    pub align_by: AlignBy,
    pub roll_dead_band_deg: f32,
    pub motion: MotionConfig,
    pub spotting: SpotterConfig,
}

#[derive(Debug, serde::Serialize)]
pub struct SessionInfo {
    pub software: &'static str,
    pub version: &'static str,
    pub started_utc: String,
    pub source: SourceInfo,
    pub settings: SessionSettings,
    pub models: Vec<ModelInfo>,
    /// How the recording went; updated when it ends.
    pub recording: Option<RecordingInfo>,
}

/// The recorder's account of a session, in `session.json`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecordingInfo {
    /// The video file in the session folder, when video is recorded.
    pub video: Option<String>,
    /// Where the session's frame 1 and 0 s are in the source's stream.
    pub first_stream_frame: u64,
    pub origin_stream_seconds: f64,
    /// Rows in `frames.csv`; video frame i is row i.
    pub frames_written: u64,
    pub video_frames: u64,
    /// Frames the recorder could not keep up with (neither in the CSV nor in the video).
    pub frames_dropped: u64,
    pub events_written: u64,
    /// Events that began before the recording did (not written).
    pub events_before_start: u64,
    pub ended_utc: Option<String>,
    /// `recording` while it runs (what a crashed session keeps), then `completed` or the error
    /// that stopped it.
    pub state: String,
}

impl SessionInfo {
    pub fn new(source: SourceInfo, settings: SessionSettings, models: Vec<ModelInfo>) -> Self {
        Self {
            software: "glimpse",
            version: env!("CARGO_PKG_VERSION"),
            started_utc: super::utc_timestamp(),
            source,
            settings,
            models,
            recording: None,
        }
    }

    /// What a pipeline with this configuration is made of: its settings and the model files it
    /// loads, with their sha256.
    pub fn describe(source: &SourceInfo, config: &PipelineConfig) -> Self {
        use crate::inference::{FLOW_FILE, LANDMARKS_FILE, MER_FILE, inspect_model, models_dir};
        let landmarks = match &config.landmarks {
            LandmarkSetting::Auto => Some(models_dir().join(LANDMARKS_FILE)).filter(|p| p.is_file()),
            LandmarkSetting::Off => None,
            LandmarkSetting::File(path) => Some(path.clone()),
        };
        let mut models: Vec<_> = landmarks.iter().map(|path| inspect_model(LANDMARKS_FILE, path)).collect();
        models.extend(config.mer_model.iter().map(|path| inspect_model(MER_FILE, path)));
        if config.motion.flow == crate::motion::FlowMethod::Onnx {
            models.push(inspect_model(FLOW_FILE, &models_dir().join(FLOW_FILE)));
        }
        let settings = SessionSettings {
            paced: config.pacing == Pacing::RealTime,
            landmarks: config.landmarks.clone(),
            align_by: config.face.align_by,
            roll_dead_band_deg: config.face.roll_dead_band_deg,
            motion: config.motion,
            spotting: config.spotting,
        };
        Self::new(source.clone(), settings, models)
    }

    pub fn write(&self, path: &Path) -> Result<(), SessionError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SessionError::Json { path: path.to_owned(), reason: e.to_string() })?;
        super::replace_file(path, (text + "\n").as_bytes())
    }
}
