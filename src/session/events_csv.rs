//! `events.csv`: one row per spotted event, written when the event is found (one `write` per
//! row, like `frames.csv`), in the layout of the synthetic truth tables so that the two compare
//! line by line. Frame numbers are `frames.csv`'s (from 1); times are milliseconds of stream time.
//! Each event's pictures go to `events/<id>/<name>.png`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

use crate::inference::MER_CLASSES;
use crate::recognition::{AnalysedEvent, RgbImage};

use super::SessionError;

pub const EVENTS_CSV: &str = "events.csv";
pub const EVENTS_DIR: &str = "events";

pub const EVENTS_CSV_HEADER: [&str; 16] = [
    "event_id",
    "type",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset_ms",
    "apex_ms",
    "offset_ms",
    "duration_ms",
    "confidence",
    "aus",
    "emotion",
    "p_negative",
    "p_positive",
    "p_surprise",
    "status",
];

pub struct EventsCsvWriter {
    path: PathBuf,
    file: File,
    written: u64,
}

impl EventsCsvWriter {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        let file = super::create_private_file(path).map_err(|source| SessionError::Create { path: path.to_owned(), source })?;
        let mut writer = Self { path: path.to_owned(), file, written: 0 };
        writer.write_record(EVENTS_CSV_HEADER.iter().map(|s| s.to_string()).collect())?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write(&mut self, analysed: &AnalysedEvent) -> Result<(), SessionError> {
        let event = &analysed.event;
        let ms = |v: f64| format!("{v:.3}");
        let mut fields = vec![
            event.id.to_string(),
            event.kind.to_string(),
            event.onset.frame_number().to_string(),
            event.apex.frame_number().to_string(),
            event.offset.frame_number().to_string(),
            ms(event.onset.ms()),
            ms(event.apex.ms()),
            ms(event.offset.ms()),
            ms(event.duration_ms()),
            format!("{:.3}", event.confidence),
            analysed.aus.clone(),
        ];
        match &analysed.recognition {
            Some(recognition) => {
                fields.push(recognition.emotion.to_string());
                fields.extend(recognition.probabilities.iter().map(|p| format!("{p:.4}")));
            }
            None => fields.extend(std::iter::repeat_n(String::new(), 1 + MER_CLASSES.len())),
        }
        fields.push("auto".into());
        self.write_record(fields)?;
        self.written += 1;
        Ok(())
    }

    fn write_record(&mut self, fields: Vec<String>) -> Result<(), SessionError> {
        let bytes = super::csv_row(&fields).map_err(|source| SessionError::Format { path: self.path.clone(), source })?;
        self.file.write_all(&bytes).map_err(|source| SessionError::WriteEvents {
            path: self.path.clone(),
            written: self.written,
            source,
        })
    }
}

/// Saves an event's pictures as `dir/<id>/<name>.png`; returns the folder.
pub fn save_event_images(dir: &Path, analysed: &AnalysedEvent) -> Result<Option<PathBuf>, SessionError> {
    let Some(images) = &analysed.images else { return Ok(None) };
    let folder = dir.join(analysed.event.id.to_string());
    super::create_private_dir(&folder).map_err(|source| SessionError::Create { path: folder.clone(), source })?;
    for (name, image) in images.named() {
        let path = folder.join(format!("{name}.png"));
        write_png(&path, image)?;
    }
    Ok(Some(folder))
}

/// Writes an RGB picture as PNG.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), SessionError> {
    let image_error = |reason: String| SessionError::Image { path: path.to_owned(), reason };
    let mut bgr = image.pixels.clone();
    for pixel in bgr.chunks_exact_mut(3) {
        pixel.swap(0, 2);
    }
    let flat = Mat::from_slice(&bgr).map_err(|e| image_error(e.to_string()))?;
    let mat = flat.reshape(3, image.height as i32).map_err(|e| image_error(e.to_string()))?;
    let text = path.to_str().ok_or_else(|| image_error("the path is not UTF-8".into()))?;
    match imgcodecs::imwrite(text, &mat, &Vector::new()) {
        Ok(true) => super::restrict_to_owner(path).map_err(|e| image_error(e.to_string())),
        Ok(false) => Err(image_error("OpenCV could not write the file".into())),
        Err(error) => Err(image_error(error.to_string())),
    }
}
