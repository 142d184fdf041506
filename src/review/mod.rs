//! Review of a recorded or analysed session folder: load it, confirm, reject or relabel its
//! events, note them, add events by hand, and save the reviewed `events.csv` and `session.eaf`.
//! `frames.csv` (the per-frame data) and the event pictures are read, never written.
//!
//! The window's side of it is `ui::review`; this is the model, tested without a window.

mod frames;
mod playback;
mod video;

pub use frames::{FrameRow, FrameTable};
pub use playback::Playback;
pub use video::{DecodedFrame, ReviewVideo, VideoPlayer};

use std::path::{Path, PathBuf};

use crate::face::AlignBy;
use crate::session::{
    EVENTS_CSV, EVENTS_DIR, EafAnnotation, EventRecord, EventStatus, FRAMES_CSV, MACRO_TIER, MICRO_TIER, NOTES_TIER, RowType,
    SESSION_EAF, SESSION_JSON, SessionError, annotation_label, eaf_media, read_events_csv, write_eaf, write_events_csv,
};
use crate::spotting::EventKind;

/// The video a recording writes into its session folder.
pub const SESSION_VIDEO: &str = "video.mp4";

/// The emotions a reviewer can give an event: the MER model's classes, and `others` for what
/// they do not cover.
pub const REVIEW_LABELS: [&str; 4] = ["negative", "positive", "surprise", "others"];

/// How long a note at one time lasts in ELAN (milliseconds), so that it can be seen and
/// clicked there; `events.csv` keeps it as a point.
pub const NOTE_SPAN_MS: f64 = 1000.0;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no session folder '{path}'")]
    NoFolder { path: PathBuf },
    #[error("'{path}' is not a folder: review opens a session folder (with frames.csv and events.csv)")]
    NotAFolder { path: PathBuf },
    #[error("'{path}' is missing: {why}")]
    MissingFile { path: PathBuf, why: &'static str },
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("'{path}' is malformed: {reason}")]
    SessionJson { path: PathBuf, reason: String },
    #[error("cannot play video '{path}': {reason}")]
    Video { path: PathBuf, reason: String },
    #[error("there is no event #{0}")]
    NoEvent(u64),
    #[error("#{0} is a note, not an event")]
    NotAnEvent(u64),
    #[error("event #{0} was spotted, not added by hand: reject it instead of deleting it")]
    NotManual(u64),
    #[error("the out point ({end:.3} s) must come after the in point ({start:.3} s)")]
    BadInterval { start: f64, end: f64 },
    #[error("a note needs some text")]
    EmptyNote,
    #[error("unknown label '{0}' (expected negative, positive, surprise or others)")]
    UnknownLabel(String),
}

/// What the review shows the overlays on.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// A video file whose frame i is row i of `frames.csv`.
    Video(PathBuf),
    /// No video found: the overlays go on a blank canvas; says what was looked for.
    Blank { looked_for: String },
}

/// What review reads of `session.json` (everything else in it is left alone).
#[derive(Debug, Default, serde::Deserialize)]
struct SessionJson {
    source: Option<SessionSource>,
    settings: Option<SessionJsonSettings>,
}

#[derive(Debug, serde::Deserialize)]
struct SessionSource {
    kind: String,
    name: String,
    width: i32,
    height: i32,
}

#[derive(Debug, serde::Deserialize)]
struct SessionJsonSettings {
    align_by: Option<String>,
}

/// A session folder under review.
#[derive(Debug)]
pub struct ReviewSession {
    dir: PathBuf,
    frames: FrameTable,
    records: Vec<EventRecord>,
    media: Media,
    /// The media `session.eaf` linked when loaded, linked again when it is rewritten.
    eaf_media: Option<PathBuf>,
    frame_size: Option<(i32, i32)>,
    align_by: AlignBy,
    unsaved: bool,
}

impl ReviewSession {
    /// Loads `dir/frames.csv`, `dir/events.csv` and what `session.json` and `session.eaf` say of
    /// the source, and finds the video.
    pub fn load(dir: &Path) -> Result<Self, ReviewError> {
        match std::fs::metadata(dir) {
            Err(_) => return Err(ReviewError::NoFolder { path: dir.to_owned() }),
            Ok(meta) if !meta.is_dir() => return Err(ReviewError::NotAFolder { path: dir.to_owned() }),
            Ok(_) => {}
        }
        let frames_path = dir.join(FRAMES_CSV);
        if !frames_path.is_file() {
            return Err(ReviewError::MissingFile { path: frames_path, why: "a session folder has its per-frame data there" });
        }
        let events_path = dir.join(EVENTS_CSV);
        if !events_path.is_file() {
            return Err(ReviewError::MissingFile { path: events_path, why: "a session folder has its events there" });
        }
        let frames = FrameTable::read(&frames_path)?;
        let records = read_events_csv(&events_path)?;
        let json_path = dir.join(SESSION_JSON);
        let json = match std::fs::read_to_string(&json_path) {
            Ok(text) => serde_json::from_str::<SessionJson>(&text)
                .map_err(|e| ReviewError::SessionJson { path: json_path.clone(), reason: e.to_string() })?,
            Err(_) => SessionJson::default(),
        };
        let eaf_media = std::fs::read_to_string(dir.join(SESSION_EAF)).ok().and_then(|text| eaf_media(&text, dir));
        let media = find_media(dir, eaf_media.as_deref(), json.source.as_ref());
        let frame_size = json.source.as_ref().map(|s| (s.width, s.height)).filter(|(w, h)| *w > 0 && *h > 0);
        let align_by = json
            .settings
            .and_then(|s| s.align_by)
            .and_then(|by| by.parse().ok())
            // Sessions recorded before session.json named the alignment were aligned by the box.
            .unwrap_or(AlignBy::Box);
        Ok(Self { dir: dir.to_owned(), frames, records, media, eaf_media, frame_size, align_by, unsaved: false })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn frames(&self) -> &FrameTable {
        &self.frames
    }

    pub fn media(&self) -> &Media {
        &self.media
    }

    /// The frame size `session.json` gives, when it does.
    pub fn frame_size(&self) -> Option<(i32, i32)> {
        self.frame_size
    }

    pub fn align_by(&self) -> AlignBy {
        self.align_by
    }

    /// Every row of `events.csv` (events and notes), in file order.
    pub fn records(&self) -> &[EventRecord] {
        &self.records
    }

    pub fn record(&self, id: u64) -> Option<&EventRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// Edits not saved yet.
    pub fn has_unsaved_edits(&self) -> bool {
        self.unsaved
    }

    /// The folder of an event's pictures, when it has one.
    pub fn pictures_dir(&self, id: u64) -> Option<PathBuf> {
        Some(self.dir.join(EVENTS_DIR).join(id.to_string())).filter(|d| d.is_dir())
    }

    /// Events (not notes) by onset time.
    pub fn events_in_time_order(&self) -> Vec<&EventRecord> {
        let mut events: Vec<&EventRecord> = self.records.iter().filter(|r| r.kind().is_some()).collect();
        events.sort_by(|a, b| a.onset_ms.total_cmp(&b.onset_ms).then(a.id.cmp(&b.id)));
        events
    }

    /// The first event starting after `seconds` (1 ms later at least, so that stepping from an
    /// event's onset moves on).
    pub fn next_event(&self, seconds: f64) -> Option<&EventRecord> {
        self.events_in_time_order().into_iter().find(|e| e.onset_ms > seconds * 1000.0 + 1.0)
    }

    /// The last event starting before `seconds` (1 ms earlier at least).
    pub fn previous_event(&self, seconds: f64) -> Option<&EventRecord> {
        self.events_in_time_order().into_iter().rev().find(|e| e.onset_ms < seconds * 1000.0 - 1.0)
    }

    /// The events (rejected ones included) under the frame shown at `seconds`.
    pub fn events_at(&self, seconds: f64) -> Vec<&EventRecord> {
        let ms = seconds * 1000.0;
        self.events_in_time_order().into_iter().filter(|e| e.onset_ms <= ms + 0.5 && ms <= e.offset_ms + 0.5).collect()
    }

    fn event_mut(&mut self, id: u64) -> Result<&mut EventRecord, ReviewError> {
        let record = self.records.iter_mut().find(|r| r.id == id).ok_or(ReviewError::NoEvent(id))?;
        if record.row_type == RowType::Note {
            return Err(ReviewError::NotAnEvent(id));
        }
        Ok(record)
    }

    fn edited(&mut self) {
        self.unsaved = true;
    }

    /// The reviewer agrees it is an event (a manual one stays `manual`).
    pub fn confirm(&mut self, id: u64) -> Result<(), ReviewError> {
        let record = self.event_mut(id)?;
        if record.status != EventStatus::Manual {
            record.status = EventStatus::Confirmed;
        }
        self.edited();
        Ok(())
    }

    /// The reviewer says it is no event: kept in `events.csv` as `rejected` (its id with it),
    /// left out of the ELAN tiers.
    pub fn reject(&mut self, id: u64) -> Result<(), ReviewError> {
        let record = self.event_mut(id)?;
        if record.status == EventStatus::Manual {
            return self.remove(id);
        }
        record.status = EventStatus::Rejected;
        self.edited();
        Ok(())
    }

    /// Gives the event the reviewer's emotion (one of [`REVIEW_LABELS`]; `None` goes back to the
    /// model's). Relabelling confirms a spotted event.
    pub fn relabel(&mut self, id: u64, label: Option<&str>) -> Result<(), ReviewError> {
        if let Some(label) = label
            && !REVIEW_LABELS.contains(&label)
        {
            return Err(ReviewError::UnknownLabel(label.to_owned()));
        }
        let record = self.event_mut(id)?;
        // A label equal to the model's is no relabelling.
        record.label = label.filter(|l| record.emotion.as_deref() != Some(*l)).map(str::to_owned);
        if matches!(record.status, EventStatus::Auto | EventStatus::Rejected) {
            record.status = EventStatus::Confirmed;
        }
        self.edited();
        Ok(())
    }

    /// Sets the note of an event or a note row.
    pub fn set_note(&mut self, id: u64, text: &str) -> Result<(), ReviewError> {
        let record = self.records.iter_mut().find(|r| r.id == id).ok_or(ReviewError::NoEvent(id))?;
        if record.note != text {
            record.note = text.to_owned();
            self.edited();
        }
        Ok(())
    }

    fn next_id(&self) -> u64 {
        self.records.iter().map(|r| r.id).max().unwrap_or(0) + 1
    }

    /// A row at the frames shown from `start` to `end` (stream seconds); the apex is the frame
    /// with the highest spotting score in between, else the middle one.
    fn manual_record(&self, row_type: RowType, start: f64, end: f64) -> EventRecord {
        let rows = self.frames.rows();
        let (first, last) = (self.frames.row_at(start), self.frames.row_at(end));
        let apex = (first..=last)
            .filter_map(|i| rows[i].spot_score.map(|s| (i, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or((first + last) / 2, |(i, _)| i);
        let ms = |i: usize| rows[i].seconds * 1000.0;
        EventRecord {
            id: self.next_id(),
            row_type,
            onset_frame: rows[first].frame,
            apex_frame: rows[apex].frame,
            offset_frame: rows[last].frame,
            onset_ms: ms(first),
            apex_ms: ms(apex),
            offset_ms: ms(last),
            duration_ms: ms(last) - ms(first),
            confidence: None,
            aus: String::new(),
            emotion: None,
            probabilities: None,
            status: EventStatus::Manual,
            label: None,
            note: String::new(),
        }
    }

    /// Adds an event the spotter missed, from the frame shown at `start` to the one shown at
    /// `end`; returns its id.
    pub fn add_event(&mut self, kind: EventKind, start: f64, end: f64, label: Option<&str>) -> Result<u64, ReviewError> {
        if start.is_nan() || end.is_nan() || end <= start || self.frames.row_at(end) <= self.frames.row_at(start) {
            return Err(ReviewError::BadInterval { start, end });
        }
        if let Some(label) = label
            && !REVIEW_LABELS.contains(&label)
        {
            return Err(ReviewError::UnknownLabel(label.to_owned()));
        }
        let mut record = self.manual_record(RowType::Event(kind), start, end);
        record.label = label.map(str::to_owned);
        let id = record.id;
        self.records.push(record);
        self.edited();
        Ok(id)
    }

    /// Adds a note at the frame shown at `seconds`; returns its id.
    pub fn add_note(&mut self, seconds: f64, text: &str) -> Result<u64, ReviewError> {
        if text.trim().is_empty() {
            return Err(ReviewError::EmptyNote);
        }
        let mut record = self.manual_record(RowType::Note, seconds, seconds);
        record.note = text.trim().to_owned();
        let id = record.id;
        self.records.push(record);
        self.edited();
        Ok(id)
    }

    /// Deletes a row a reviewer added (spotted events are rejected, never deleted).
    pub fn remove(&mut self, id: u64) -> Result<(), ReviewError> {
        let index = self.records.iter().position(|r| r.id == id).ok_or(ReviewError::NoEvent(id))?;
        if self.records[index].status != EventStatus::Manual {
            return Err(ReviewError::NotManual(id));
        }
        self.records.remove(index);
        self.edited();
        Ok(())
    }

    /// The ELAN tiers of the reviewed session: micro and macro events that stand (rejected ones
    /// left out) labelled with the reviewer's emotion, and every note.
    pub fn eaf_tiers(&self) -> [(&'static str, Vec<EafAnnotation>); 3] {
        let (mut micro, mut macro_, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for record in self.events_in_time_order() {
            let Some(kind) = record.kind() else { continue };
            if !record.note.trim().is_empty() {
                let value = format!("#{}: {}", record.id, record.note.trim());
                notes.push(EafAnnotation::spanning(record.onset_ms, record.offset_ms, value));
            }
            if record.status == EventStatus::Rejected {
                continue;
            }
            let what = record.emotion_shown().map_or_else(|| kind.to_string(), str::to_owned);
            let mut value = annotation_label(record.id, &what, &record.aus, record.confidence);
            match (&record.label, &record.emotion) {
                (Some(_), Some(model)) => value.push_str(&format!(" ({}; the model said {model})", record.status)),
                _ if record.status != EventStatus::Auto => value.push_str(&format!(" ({})", record.status)),
                _ => {}
            }
            let annotation = EafAnnotation::spanning(record.onset_ms, record.offset_ms, value);
            match kind {
                EventKind::Micro => micro.push(annotation),
                EventKind::Macro => macro_.push(annotation),
            }
        }
        for record in self.records.iter().filter(|r| r.row_type == RowType::Note) {
            notes.push(EafAnnotation::spanning(record.onset_ms, record.onset_ms + NOTE_SPAN_MS, record.note.trim().to_owned()));
        }
        notes.sort_by_key(|a| a.start_ms);
        [(MICRO_TIER, micro), (MACRO_TIER, macro_), (NOTES_TIER, notes)]
    }

    /// Rewrites `events.csv` and `session.eaf` (each whole, through a temporary file), keeping
    /// the event ids, the media `session.eaf` linked and the link to `frames.csv`.
    pub fn save(&mut self) -> Result<(), ReviewError> {
        write_events_csv(&self.dir.join(EVENTS_CSV), &self.records)?;
        let media = self.eaf_media.clone().or_else(|| match &self.media {
            Media::Video(path) => Some(path.clone()),
            Media::Blank { .. } => None,
        });
        let tiers = self.eaf_tiers();
        let tiers: Vec<(&str, &[EafAnnotation])> = tiers.iter().map(|(name, list)| (*name, list.as_slice())).collect();
        write_eaf(&self.dir.join(SESSION_EAF), media.as_deref(), Some(&self.dir.join(FRAMES_CSV)), &tiers)?;
        self.unsaved = false;
        Ok(())
    }
}

/// The video to show: the folder's own `video.mp4`, else the media `session.eaf` links, else the
/// source file `session.json` names (relative to the folder or to the working directory).
fn find_media(dir: &Path, eaf_media: Option<&Path>, source: Option<&SessionSource>) -> Media {
    let own = dir.join(SESSION_VIDEO);
    let source_file = source.filter(|s| s.kind == "file").map(|s| PathBuf::from(&s.name));
    let candidates =
        [Some(own.clone()), eaf_media.map(Path::to_owned), source_file.as_ref().map(|p| dir.join(p)), source_file.clone()];
    if let Some(found) = candidates.iter().flatten().find(|p| p.is_file()) {
        return Media::Video(found.clone());
    }
    let mut looked_for = vec![own.display().to_string()];
    looked_for.extend(eaf_media.map(|p| format!("{} (linked from session.eaf)", p.display())));
    looked_for.extend(source_file.map(|p| format!("{} (the source in session.json)", p.display())));
    Media::Blank { looked_for: looked_for.join(", ") }
}

#[cfg(test)]
mod tests;
