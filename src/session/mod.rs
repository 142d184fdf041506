//! Session files: what an analysis writes to its output folder, as it goes.

mod events_csv;
mod frames_csv;

pub use events_csv::{EVENTS_CSV, EVENTS_CSV_HEADER, EVENTS_DIR, EventsCsvWriter, save_event_images, write_png};
pub use frames_csv::{FRAMES_CSV, FramesCsvWriter, frames_csv_header};

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
    #[error("cannot format a row for '{path}': {source}")]
    Format { path: PathBuf, source: csv::Error },
}
