//! `glimpse analyse INPUT --out DIR`: the pipeline headless over a video file, the synthetic face
//! or a camera, writing `DIR/frames.csv` as it goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::capture::{Pacing, Source, SourceSpec, open_source};
use crate::pipeline::{LandmarkSetting, OutputPolicy, Pipeline, PipelineConfig, PipelineStats};
use crate::session::{FRAMES_CSV, FramesCsvWriter};
use crate::synth::{SynthSpec, write_truth_csv};

use super::{CommandError, StopFlag, create_dir, report};

#[derive(Debug, Clone)]
pub struct AnalyseOptions {
    pub input: SourceSpec,
    pub out: PathBuf,
    /// Read a file at its own frame rate, as a camera would deliver it (frames may drop).
    pub paced: bool,
    /// Stop after this many seconds of stream time.
    pub max_seconds: Option<f64>,
    /// Parameters of the synthetic source.
    pub synth: SynthSpec,
    pub progress: bool,
    /// Where the landmarks come from.
    pub landmarks: LandmarkSetting,
}

/// How an analysis ended.
pub struct AnalyseOutcome {
    pub stats: PipelineStats,
    pub warnings: Vec<String>,
    pub frames_csv: PathBuf,
}

/// Runs the analysis the options describe. A source that fails mid-stream (camera unplugged,
/// unreadable frame) still has every frame before the failure written, then returns the error.
pub fn run(options: &AnalyseOptions, stop: &StopFlag) -> Result<AnalyseOutcome, CommandError> {
    let source = open_source(&options.input, options.synth.clone())?;
    create_dir(&options.out)?;
    if options.input == SourceSpec::Synthetic {
        let truth = crate::synth::SyntheticFace::new(options.synth.clone())?;
        write_truth_csv(&options.out.join("truth.csv"), truth.truth())?;
    }
    let config = PipelineConfig {
        pacing: if options.paced { Pacing::RealTime } else { Pacing::AsFastAsPossible },
        output: OutputPolicy::Lossless,
        max_seconds: options.max_seconds,
        landmarks: options.landmarks.clone(),
        ..PipelineConfig::default()
    };
    analyse_source(source, config, &options.out, options.progress, stop)
}

/// The analysis loop, for any source (tests pass their own).
pub fn analyse_source(
    source: Box<dyn Source>,
    config: PipelineConfig,
    out: &Path,
    progress: bool,
    stop: &StopFlag,
) -> Result<AnalyseOutcome, CommandError> {
    create_dir(out)?;
    let frames_path = out.join(FRAMES_CSV);
    let mut writer = FramesCsvWriter::create(&frames_path)?;
    let total = source.info().frame_count;
    let limited = config.max_frames.is_some() || config.max_seconds.is_some();
    let pipeline = Pipeline::start(source, config)?;

    let bar = if progress { ProgressBar::new(total.unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut write_error = None;
    loop {
        if stop.is_raised() {
            pipeline.stop();
        }
        match pipeline.results().recv_timeout(Duration::from_millis(200)) {
            Ok(analysis) => {
                if write_error.is_none()
                    && let Err(error) = writer.write(&analysis)
                {
                    // Keep what is written; stop reading and let the pipeline wind down.
                    pipeline.stop();
                    write_error = Some(error);
                }
                bar.inc(1);
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    bar.finish_and_clear();
    let report = pipeline.finish()?;
    if let Some(error) = write_error {
        return Err(error.into());
    }
    if let Some(error) = report.capture_error {
        eprint!("{}", report::format_summary(&report.stats));
        return Err(error.into());
    }
    let read_to_end = report.completed && !limited;
    let warnings = report::warnings(&report.stats, read_to_end);
    Ok(AnalyseOutcome { stats: report.stats, warnings, frames_csv: frames_path })
}
