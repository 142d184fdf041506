//! `glimpse review DIR`: a session folder played back in a window with its overlays and
//! events, to confirm, reject, relabel, note and add events (see `ui::review`).

use std::path::PathBuf;

use crate::review::ReviewSession;

use super::CommandError;

#[derive(Debug, Clone)]
pub struct ReviewOptions {
    pub dir: PathBuf,
    /// Close the window after this many seconds (tests, demos); unsaved edits are saved.
    pub quit_after: Option<f64>,
}

/// Loads the folder (its errors come before any window) and opens the review window.
pub fn run(options: &ReviewOptions) -> Result<(), CommandError> {
    let session = ReviewSession::load(&options.dir)?;
    if !crate::ui::display_available() {
        return Err(CommandError::NoDisplay { what: "review" });
    }
    crate::ui::review::run(session, options.quit_after)?;
    Ok(())
}
