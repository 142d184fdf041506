//! `glimpse synth --out FILE --truth CSV`: writes the synthetic face video and its truth table.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::synth::{SynthSpec, SynthSummary, write_video};

use super::CommandError;

pub fn run(spec: &SynthSpec, video: &Path, truth: &Path, progress: bool) -> Result<SynthSummary, CommandError> {
    for path in [video, truth] {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            super::create_dir(parent)?;
        }
    }
    let bar = if progress { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = write_video(spec, video, truth, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    Ok(summary)
}
