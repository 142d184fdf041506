//! Session files: what an analysis writes to its output folder, as it goes.

mod eaf;
mod events_csv;
mod frames_csv;
mod session_json;

pub use eaf::{
    EafAnnotation, EafWriter, MACRO_TIER, MICRO_TIER, NOTES_TIER, SESSION_EAF, annotation_label, eaf_document, eaf_media,
    event_label, write_eaf,
};
pub use events_csv::{
    EVENTS_CSV, EVENTS_CSV_HEADER, EVENTS_DIR, EventRecord, EventStatus, EventsCsvWriter, RowType, read_events_csv,
    save_event_images, write_events_csv, write_png,
};
pub use frames_csv::{FRAMES_CSV, FramesCsvWriter, frame_row, frames_csv_header};
pub use session_json::{RecordingInfo, SESSION_JSON, SessionInfo, SessionSettings};

/// Reads a `session.eaf` back into (tier id, [(start ms, end ms, value)]) for tests.
#[cfg(test)]
pub(crate) use eaf::tests::parse as parse_eaf;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot create '{path}': {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot write to '{path}' (rows up to frame {last_frame} are saved): {source}")]
    Write { path: PathBuf, last_frame: u64, source: std::io::Error },
    #[error("cannot write to '{path}' (the first {written} events are saved): {source}")]
    WriteEvents { path: PathBuf, written: u64, source: std::io::Error },
    #[error("cannot write picture '{path}': {reason}")]
    Image { path: PathBuf, reason: String },
    #[error("cannot format '{path}': {reason}")]
    Json { path: PathBuf, reason: String },
    #[error("cannot format a row for '{path}': {source}")]
    Format { path: PathBuf, source: csv::Error },
    #[error("cannot write '{path}' (the previous version is kept): {source}")]
    Replace { path: PathBuf, source: std::io::Error },
    #[error("cannot read '{path}': {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("'{path}' is malformed{}: {detail}", if *line > 0 { format!(" (line {line})") } else { String::new() })]
    Malformed { path: PathBuf, line: u64, detail: String },
}

/// Where a session's frame numbers and times start. A whole-file analysis keeps the stream's
/// own (`STREAM`); a recording starts at its first frame, so that its files and its video share
/// one time line from frame 1 at 0 s however long the source ran before the Record button, and
/// goes on across a source that restarts (a camera reopened, the demo looping).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timeline {
    /// The stream index that is the session's frame 1 (negative when the session had frames
    /// before this stream began).
    pub first_index: i64,
    /// The stream time that is the session's 0 s.
    pub origin_seconds: f64,
}

impl Timeline {
    pub const STREAM: Self = Self { first_index: 0, origin_seconds: 0.0 };

    /// A time line starting at this frame.
    pub fn starting_at(index: u64, seconds: f64) -> Self {
        Self { first_index: index as i64, origin_seconds: seconds }
    }

    /// A time line on which stream frame `index` at `seconds` becomes session frame `number` at
    /// `session_seconds` (a session going on over a new stream).
    pub fn continuing(index: u64, seconds: f64, number: u64, session_seconds: f64) -> Self {
        Self { first_index: index as i64 - (number as i64 - 1), origin_seconds: seconds - session_seconds }
    }

    /// The session's 1-based frame number of a stream index (0 for frames before it started).
    pub fn frame_number(&self, index: u64) -> u64 {
        (index as i64 + 1 - self.first_index).max(0) as u64
    }

    pub fn seconds(&self, stream_seconds: f64) -> f64 {
        stream_seconds - self.origin_seconds
    }

    /// The event on this time line (indices and times shifted), or `None` if it began before
    /// the session did (its onset is not in the session's files or video).
    pub fn event(&self, analysed: &crate::recognition::AnalysedEvent) -> Option<crate::recognition::AnalysedEvent> {
        if self.frame_number(analysed.event.onset.index) == 0 {
            return None;
        }
        let mut shifted = analysed.clone();
        for mark in [&mut shifted.event.onset, &mut shifted.event.apex, &mut shifted.event.offset] {
            mark.index = self.frame_number(mark.index) - 1;
            mark.seconds = self.seconds(mark.seconds);
        }
        Some(shifted)
    }
}

/// Creates (truncates) a file that only its owner may read or write: session files hold faces.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` only applies to a new file; an old one keeps its permissions unless told.
    restrict_to_owner(path)?;
    Ok(file)
}

/// Makes an existing file (written by OpenCV or FFmpeg) readable by its owner only.
pub fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Creates a session folder (and its parents) that only its owner may enter. A folder that is
/// already there keeps its permissions: it is the user's.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Replaces `path` with `bytes` whole: written to a private `<path>.partial` beside it, synced,
/// then renamed over it, so the file on disk is always either the old one or the new one.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), SessionError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let temporary = path.with_file_name(name);
    let write = || -> std::io::Result<()> {
        let mut file = create_private_file(&temporary)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|source| SessionError::Replace { path: path.to_owned(), source })
}

/// A file of CSV rows, each appended whole. A failed append (disk full, file size limit) cuts
/// the file back to its last complete row, so that what is on disk always parses.
pub(crate) struct RowFile {
    path: PathBuf,
    file: std::fs::File,
    committed: u64,
}

impl RowFile {
    pub(crate) fn create(path: &Path) -> Result<Self, SessionError> {
        let file = create_private_file(path).map_err(|source| SessionError::Create { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), file, committed: 0 })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn append(&mut self, row: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self.file.write_all(row) {
            Ok(()) => {
                self.committed += row.len() as u64;
                Ok(())
            }
            Err(error) => {
                use std::io::Seek;
                let _ = self.file.set_len(self.committed);
                let _ = self.file.seek(std::io::SeekFrom::Start(self.committed));
                Err(error)
            }
        }
    }
}

/// One CSV record as bytes (quoted as needed, newline-terminated), so that a row reaches its
/// file in a single `write`.
pub(crate) fn csv_row(fields: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut row = csv::Writer::from_writer(Vec::with_capacity(512));
    row.write_record(fields)?;
    row.into_inner().map_err(|e| e.into_error().into())
}

/// Now as an ISO 8601 UTC time (`2026-11-21T20:41:07Z`), for the files a session writes.
pub fn utc_timestamp() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Howard Hinnant's days -> civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::Timeline;

    #[test]
    fn a_timeline_starts_at_the_first_recorded_frame_and_goes_on_over_a_new_stream() {
        let recording = Timeline::starting_at(120, 4.0);
        assert_eq!(recording.frame_number(120), 1);
        assert_eq!(recording.frame_number(119), 0, "before the recording");
        assert!((recording.seconds(5.5) - 1.5).abs() < 1e-12);
        // The camera comes back as a new stream (indices and times from 0): the session's frame
        // 301 at 10.5 s is the new stream's frame 0 at 0.2 s.
        let resumed = Timeline::continuing(0, 0.2, 301, 10.5);
        assert_eq!(resumed.frame_number(0), 301);
        assert_eq!(resumed.frame_number(9), 310);
        assert!((resumed.seconds(0.2) - 10.5).abs() < 1e-12);
        assert!((resumed.seconds(1.2) - 11.5).abs() < 1e-12);
        assert_eq!(Timeline::STREAM.frame_number(0), 1);
    }

    #[test]
    fn utc_timestamp_is_iso_8601() {
        let now = super::utc_timestamp();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && &now[4..5] == "-" && &now[10..11] == "T", "{now}");
        assert!(now[..4].parse::<u32>().unwrap() >= 2025, "{now}");
    }
}
