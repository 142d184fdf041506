//! `events.csv`: one row per spotted event, written when the event is found (one `write` per
//! row, like `frames.csv`), in the layout of the synthetic truth tables so that the two compare
//! line by line. Frame numbers are `frames.csv`'s (from 1); times are milliseconds on its time line.
//! Each event's pictures go to `events/<id>/<name>.png`.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

use crate::inference::MER_CLASSES;
use crate::recognition::{AnalysedEvent, RgbImage};
use crate::spotting::EventKind;

use super::{RowFile, SessionError};

pub const EVENTS_CSV: &str = "events.csv";
pub const EVENTS_DIR: &str = "events";

pub const EVENTS_CSV_HEADER: [&str; 18] = [
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
    "label",
    "note",
];

/// The columns a file must have to be read; `label` and `note` came with review and may be
/// missing from older files.
const REQUIRED_COLUMNS: usize = 16;

/// What a row of `events.csv` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowType {
    /// A spotted (or manually marked) expression.
    Event(EventKind),
    /// A reviewer's note at a time, with no expression (onset = apex = offset).
    Note,
}

impl fmt::Display for RowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowType::Event(kind) => kind.fmt(f),
            RowType::Note => f.write_str("note"),
        }
    }
}

impl FromStr for RowType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("note") {
            return Ok(RowType::Note);
        }
        text.parse::<EventKind>()
            .map(RowType::Event)
            .map_err(|_| format!("unknown type '{}' (expected micro, macro or note)", text.trim()))
    }
}

/// Where a row stands in review: `auto` as spotted, then `confirmed` or `rejected` by a
/// reviewer; `manual` rows were added by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Auto,
    Confirmed,
    Rejected,
    Manual,
}

impl EventStatus {
    pub const ALL: [EventStatus; 4] = [EventStatus::Auto, EventStatus::Confirmed, EventStatus::Rejected, EventStatus::Manual];

    pub fn name(self) -> &'static str {
        match self {
            EventStatus::Auto => "auto",
            EventStatus::Confirmed => "confirmed",
            EventStatus::Rejected => "rejected",
            EventStatus::Manual => "manual",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        EventStatus::ALL
            .into_iter()
            .find(|status| status.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("unknown status '{text}' (expected auto, confirmed, rejected or manual)"))
    }
}

/// One row of `events.csv`, as written and as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: u64,
    pub row_type: RowType,
    /// Frame numbers as in `frames.csv` (from 1).
    pub onset_frame: u64,
    pub apex_frame: u64,
    pub offset_frame: u64,
    /// Stream milliseconds.
    pub onset_ms: f64,
    pub apex_ms: f64,
    pub offset_ms: f64,
    /// Kept as read (not recomputed from the rounded onset and offset), so a file reads back
    /// and writes out unchanged.
    pub duration_ms: f64,
    /// `None` for rows a reviewer added.
    pub confidence: Option<f32>,
    pub aus: String,
    /// The model's emotion (micro events it recognised).
    pub emotion: Option<String>,
    pub probabilities: Option<[f32; 3]>,
    pub status: EventStatus,
    /// The reviewer's emotion, when it differs from the model's or the model gave none.
    pub label: Option<String>,
    pub note: String,
}

impl EventRecord {
    /// The row of an event as the analysis made it (`auto`, no label, no note).
    pub fn from_analysed(analysed: &AnalysedEvent) -> Self {
        let event = &analysed.event;
        Self {
            id: u64::from(event.id),
            row_type: RowType::Event(event.kind),
            onset_frame: event.onset.frame_number(),
            apex_frame: event.apex.frame_number(),
            offset_frame: event.offset.frame_number(),
            onset_ms: event.onset.ms(),
            apex_ms: event.apex.ms(),
            offset_ms: event.offset.ms(),
            duration_ms: event.duration_ms(),
            confidence: Some(event.confidence),
            aus: analysed.aus.clone(),
            emotion: analysed.recognition.as_ref().map(|r| r.emotion.to_string()),
            probabilities: analysed.recognition.as_ref().map(|r| r.probabilities),
            status: EventStatus::Auto,
            label: None,
            note: String::new(),
        }
    }

    /// The event kind (`None` for a note).
    pub fn kind(&self) -> Option<EventKind> {
        match self.row_type {
            RowType::Event(kind) => Some(kind),
            RowType::Note => None,
        }
    }

    /// The emotion that stands: the reviewer's label, else the model's.
    pub fn emotion_shown(&self) -> Option<&str> {
        self.label.as_deref().or(self.emotion.as_deref())
    }

    /// The fields in [`EVENTS_CSV_HEADER`] order.
    pub fn fields(&self) -> Vec<String> {
        let ms = |v: f64| format!("{v:.3}");
        let mut fields = vec![
            self.id.to_string(),
            self.row_type.to_string(),
            self.onset_frame.to_string(),
            self.apex_frame.to_string(),
            self.offset_frame.to_string(),
            ms(self.onset_ms),
            ms(self.apex_ms),
            ms(self.offset_ms),
            ms(self.duration_ms),
            self.confidence.map(|c| format!("{c:.3}")).unwrap_or_default(),
            self.aus.clone(),
            self.emotion.clone().unwrap_or_default(),
        ];
        match self.probabilities {
            Some(p) => fields.extend(p.iter().map(|p| format!("{p:.4}"))),
            None => fields.extend(std::iter::repeat_n(String::new(), MER_CLASSES.len())),
        }
        fields.push(self.status.to_string());
        fields.push(self.label.clone().unwrap_or_default());
        fields.push(self.note.clone());
        fields
    }
}

pub struct EventsCsvWriter {
    file: RowFile,
    written: u64,
}

impl EventsCsvWriter {
    /// Creates (truncates) `path`, readable by its owner only, and writes the header.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        let mut writer = Self { file: RowFile::create(path)?, written: 0 };
        writer.write_record(EVENTS_CSV_HEADER.iter().map(|s| s.to_string()).collect())?;
        Ok(writer)
    }

    pub fn write(&mut self, analysed: &AnalysedEvent) -> Result<(), SessionError> {
        self.write_record(EventRecord::from_analysed(analysed).fields())?;
        self.written += 1;
        Ok(())
    }

    fn write_record(&mut self, fields: Vec<String>) -> Result<(), SessionError> {
        let path = self.file.path();
        let bytes = super::csv_row(&fields).map_err(|source| SessionError::Format { path: path.to_owned(), source })?;
        self.file.append(&bytes).map_err(|source| SessionError::WriteEvents {
            path: self.file.path().to_owned(),
            written: self.written,
            source,
        })
    }
}

/// Rewrites `path` whole with `records` (header first): written to a temporary file beside it,
/// then renamed over it, so a crash leaves either the old file or the new one.
pub fn write_events_csv(path: &Path, records: &[EventRecord]) -> Result<(), SessionError> {
    let mut bytes = Vec::new();
    let format_error = |source| SessionError::Format { path: path.to_owned(), source };
    bytes.extend(super::csv_row(&EVENTS_CSV_HEADER.map(String::from)).map_err(format_error)?);
    for record in records {
        bytes.extend(super::csv_row(&record.fields()).map_err(format_error)?);
    }
    super::replace_file(path, &bytes)
}

/// Reads `events.csv` (columns located by name; `label` and `note` may be missing).
pub fn read_events_csv(path: &Path) -> Result<Vec<EventRecord>, SessionError> {
    let read_error = |source| SessionError::Read { path: path.to_owned(), source };
    let bad = |line: u64, detail: String| SessionError::Malformed { path: path.to_owned(), line, detail };
    let file = File::open(path).map_err(read_error)?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let mut column = [None; EVENTS_CSV_HEADER.len()];
    for (k, name) in EVENTS_CSV_HEADER.iter().enumerate() {
        column[k] = headers.iter().position(|h| h.trim() == *name);
        if k < REQUIRED_COLUMNS && column[k].is_none() {
            return Err(bad(1, format!("no column '{name}' in the header")));
        }
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = row.position().map_or(0, |p| p.line());
        let field = |k: usize| column[k].and_then(|c| row.get(c)).unwrap_or("").trim();
        let parse = |k: usize| -> Result<f64, SessionError> {
            field(k)
                .parse::<f64>()
                .map_err(|_| bad(line, format!("column '{}' is not a number: '{}'", EVENTS_CSV_HEADER[k], field(k))))
        };
        let whole = |k: usize| -> Result<u64, SessionError> {
            field(k)
                .parse::<u64>()
                .map_err(|_| bad(line, format!("column '{}' is not a whole number: '{}'", EVENTS_CSV_HEADER[k], field(k))))
        };
        let optional =
            |k: usize| -> Result<Option<f64>, SessionError> { if field(k).is_empty() { Ok(None) } else { parse(k).map(Some) } };
        let text = |k: usize| Some(field(k).to_owned()).filter(|s| !s.is_empty());
        let probabilities = match (optional(12)?, optional(13)?, optional(14)?) {
            (Some(n), Some(p), Some(s)) => Some([n as f32, p as f32, s as f32]),
            (None, None, None) => None,
            _ => return Err(bad(line, "the class probabilities are partly blank".into())),
        };
        records.push(EventRecord {
            id: whole(0)?,
            row_type: field(1).parse().map_err(|e| bad(line, e))?,
            onset_frame: whole(2)?,
            apex_frame: whole(3)?,
            offset_frame: whole(4)?,
            onset_ms: parse(5)?,
            apex_ms: parse(6)?,
            offset_ms: parse(7)?,
            duration_ms: parse(8)?,
            confidence: optional(9)?.map(|c| c as f32),
            aus: field(10).to_owned(),
            emotion: text(11),
            probabilities,
            status: field(15).parse().map_err(|e| bad(line, e))?,
            label: text(16),
            note: column[17].and_then(|c| row.get(c)).unwrap_or("").to_owned(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(duplicate) = records.iter().find(|r| !seen.insert(r.id)) {
        return Err(bad(0, format!("event id {} is used twice", duplicate.id)));
    }
    Ok(records)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, status: EventStatus) -> EventRecord {
        EventRecord {
            id,
            row_type: RowType::Event(EventKind::Micro),
            onset_frame: 49,
            apex_frame: 54,
            offset_frame: 60,
            onset_ms: 1600.0,
            apex_ms: 1766.667,
            offset_ms: 1966.667,
            duration_ms: 366.667,
            confidence: Some(0.714),
            aus: "4+9".into(),
            emotion: Some("negative".into()),
            probabilities: Some([0.7, 0.2, 0.1]),
            status,
            label: None,
            note: String::new(),
        }
    }

    #[test]
    fn rows_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_CSV);
        let mut relabelled = record(2, EventStatus::Confirmed);
        relabelled.label = Some("surprise".into());
        relabelled.note = "brows, then \"mouth\", quoted".into();
        let manual = EventRecord {
            row_type: RowType::Event(EventKind::Macro),
            confidence: None,
            emotion: None,
            probabilities: None,
            aus: String::new(),
            ..record(3, EventStatus::Manual)
        };
        let note = EventRecord { row_type: RowType::Note, note: "looks away".into(), ..manual.clone() };
        let records = vec![record(1, EventStatus::Auto), relabelled, manual, EventRecord { id: 4, ..note }];
        write_events_csv(&path, &records).unwrap();
        assert_eq!(read_events_csv(&path).unwrap(), records);
        assert!(!dir.path().join("events.csv.partial").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&EVENTS_CSV_HEADER.join(",")), "{text}");
        assert!(text.contains("\n4,note,"), "{text}");
        // Writing what was read gives the same bytes.
        write_events_csv(&path, &read_events_csv(&path).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn files_from_before_review_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_CSV);
        let old = format!(
            "{}\n1,micro,49,54,60,1600.000,1766.667,1966.667,366.667,0.714,4+9,,,,,auto\n",
            EVENTS_CSV_HEADER[..16].join(",")
        );
        std::fs::write(&path, old).unwrap();
        let records = read_events_csv(&path).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].label.as_deref(), records[0].note.as_str(), records[0].emotion.as_deref()), (None, "", None));
        assert_eq!(records[0].probabilities, None);
    }

    #[test]
    fn malformed_files_are_named_with_the_line_and_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_CSV);
        let header = EVENTS_CSV_HEADER.join(",");
        let cases = [
            ("event_id,type\n1,micro\n".to_string(), "no column 'onset_frame'"),
            (format!("{header}\n1,micro,49,54,60,1600.000,x,1966.667,366.667,0.714,4,,,,,auto,,\n"), "line 2"),
            (
                format!("{header}\n1,micro,49,54,60,1600.000,1700,1966.667,366.667,0.714,4,,,,,maybe,,\n"),
                "unknown status 'maybe'",
            ),
            (format!("{header}\n1,blink,49,54,60,1600.000,1700,1966.667,366.667,0.714,4,,,,,auto,,\n"), "unknown type 'blink'"),
            (format!("{header}\n1,micro,49,54,60,1600.000,1700,1966.667,366.667,0.714,4,,0.5,,,auto,,\n"), "partly blank"),
            (
                format!("{header}\n1,micro,49,54,60,1,2,3,4,0.7,4,,,,,auto,,\n1,micro,49,54,60,1,2,3,4,0.7,4,,,,,auto,,\n"),
                "used twice",
            ),
            (format!("{header}\n1,micro,49\n"), "line 2"),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, &text).unwrap();
            let error = read_events_csv(&path).unwrap_err().to_string();
            assert!(error.contains("events.csv") && error.contains(expected), "{error} (expected {expected})");
        }
        let missing = read_events_csv(&dir.path().join("nope.csv")).unwrap_err().to_string();
        assert!(missing.contains("nope.csv"), "{missing}");
    }
}
