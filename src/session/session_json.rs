//! `session.json`: what a session was made from, written when it starts: the software and its
//! version, the start time, the source, the settings and each model file used, with its sha256.

use std::path::Path;

use crate::capture::SourceInfo;
use crate::face::AlignBy;
use crate::inference::ModelInfo;
use crate::motion::MotionConfig;
use crate::pipeline::LandmarkSetting;
use crate::spotting::SpotterConfig;

use super::SessionError;

pub const SESSION_JSON: &str = "session.json";

#[derive(Debug, serde::Serialize)]
pub struct SessionSettings {
    pub paced: bool,
    pub landmarks: LandmarkSetting,
    pub align_by: AlignBy,
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
}

impl SessionInfo {
    pub fn new(source: SourceInfo, settings: SessionSettings, models: Vec<ModelInfo>) -> Self {
        Self { software: "glimpse", version: env!("CARGO_PKG_VERSION"), started_utc: super::utc_timestamp(), source, settings, models }
    }

    pub fn write(&self, path: &Path) -> Result<(), SessionError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SessionError::Json { path: path.to_owned(), reason: e.to_string() })?;
        std::fs::write(path, text + "\n").map_err(|source| SessionError::Create { path: path.to_owned(), source })
    }
}
