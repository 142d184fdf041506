//! Session files: what an analysis writes to its output folder, as it goes.

mod eaf;
mod events_csv;
mod frames_csv;
mod session_json;

pub use eaf::{
    EafAnnotation, EafWriter, MACRO_TIER, MICRO_TIER, NOTES_TIER, SESSION_EAF, annotation_label, eaf_document, eaf_media, event_label,
    write_eaf,
};
pub use events_csv::{
    EVENTS_CSV, EVENTS_CSV_HEADER, EVENTS_DIR, EventRecord, EventStatus, EventsCsvWriter, RowType, read_events_csv, save_event_images,
    write_events_csv, write_png,
};
pub use frames_csv::{FRAMES_CSV, FramesCsvWriter, frames_csv_header};
pub use session_json::{SESSION_JSON, SessionInfo, SessionSettings};

/// Reads a `session.eaf` back into (tier id, [(start ms, end ms, value)]) for tests.
#[cfg(test)]
pub(crate) use eaf::tests::parse as parse_eaf;

use std::path::PathBuf;

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

/// Replaces `path` with `bytes` whole: written to `<path>.partial` beside it, then renamed over
/// it, so the file on disk is always either the old one or the new one.
pub(crate) fn replace_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), SessionError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let write_error = |source| SessionError::Replace { path: path.to_owned(), source };
    std::fs::write(&temporary, bytes).map_err(write_error)?;
    std::fs::rename(&temporary, path).map_err(write_error)
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
    #[test]
    fn utc_timestamp_is_iso_8601() {
        let now = super::utc_timestamp();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && &now[4..5] == "-" && &now[10..11] == "T", "{now}");
        assert!(now[..4].parse::<u32>().unwrap() >= 2025, "{now}");
    }
}
