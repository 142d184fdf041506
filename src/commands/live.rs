//! `glimpse live` (and `glimpse` with no arguments): the pipeline on a live source, paced like a
//! camera, with a status line every second. Until the window exists this is the app's console
//! face; it runs the same pipeline the window will.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::capture::{CameraSpec, Pacing, SourceSpec, list_cameras, open_source};
use crate::pipeline::{OutputPolicy, Pipeline, PipelineConfig, PipelineStats};
use crate::recording::Recorder;
use crate::session::SessionInfo;
use crate::synth::SynthSpec;

use super::{CommandError, StopFlag, report};

#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `None`: the first camera, or the synthetic face when there is no camera.
    pub source: Option<SourceSpec>,
    pub max_seconds: Option<f64>,
    pub out: Option<PathBuf>,
    pub synth: SynthSpec,
    pub spotting: crate::spotting::SpotterConfig,
}

/// The source `glimpse` opens by default, and a note to show when it is not a camera.
pub fn default_source() -> (SourceSpec, Option<String>) {
    match list_cameras() {
        Ok(cameras) if !cameras.is_empty() => (SourceSpec::Camera(CameraSpec::default()), None),
        Ok(_) => (SourceSpec::Synthetic, Some("no camera found: showing the synthetic face instead".into())),
        Err(error) => (SourceSpec::Synthetic, Some(format!("{error}: showing the synthetic face instead"))),
    }
}

pub fn run(options: &LiveOptions, stop: &StopFlag) -> Result<PipelineStats, CommandError> {
    let spec = match &options.source {
        Some(spec) => spec.clone(),
        None => {
            let (spec, note) = default_source();
            if let Some(note) = note {
                eprintln!("{note}");
            }
            spec
        }
    };
    let source = open_source(&spec, options.synth.clone())?;
    let mut warnings = Vec::new();
    let mer_model = super::recognition_model(&mut warnings)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let config = PipelineConfig {
        mer_model,
        spotting: options.spotting,
        pacing: Pacing::RealTime,
        // A live view must never slow the analysis; the recorder has its own bounded queue.
        output: if options.out.is_some() { OutputPolicy::Lossless } else { OutputPolicy::DropOldest },
        max_seconds: options.max_seconds,
        keep_images: options.out.is_some(),
        ..PipelineConfig::default()
    };
    let mut recorder = match &options.out {
        Some(dir) => {
            let recording = super::analyse::session_recorder(dir, source.as_ref(), &config, true);
            Some(Recorder::start(recording, SessionInfo::describe(source.info(), &config))?)
        }
        None => None,
    };
    eprintln!("glimpse live: {} — Ctrl-C to stop", source.info().name);
    let pipeline = Pipeline::start(source, config)?;
    let mut last_status = Instant::now();
    let mut last_face: Option<bool> = None;
    loop {
        if stop.is_raised() {
            pipeline.stop();
        }
        match pipeline.results().recv_timeout(Duration::from_millis(100)) {
            Ok(analysis) => {
                if let Some(Err(error)) = recorder.as_mut().map(|r| r.record(&analysis)) {
                    // What is recorded stays; the live view goes on without the recorder.
                    eprintln!("error: {error}");
                    if let Some(stopped) = recorder.take() {
                        let _ = stopped.finish();
                    }
                }
                for analysed in &analysis.events {
                    eprintln!("{}", report::describe_event(analysed));
                }
                if last_face != Some(analysis.success) {
                    eprintln!(
                        "{:>8.2} s  {}",
                        analysis.time.seconds,
                        if analysis.success { "face in view" } else { "no face in view" }
                    );
                    last_face = Some(analysis.success);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            let stats = pipeline.stats();
            eprintln!(
                "analysis {:6.1} fps | latency p50 {:5.1} ms p95 {:5.1} ms | face {:5.1} % | dropped {}",
                stats.analysis_fps(),
                stats.end_to_end.p50_ms,
                stats.end_to_end.p95_ms,
                stats.face_found_percent(),
                stats.ring.dropped + stats.output_dropped
            );
        }
    }
    let report = pipeline.finish()?;
    eprint!("{}", report::format_summary(&report.stats));
    if let (Some(mut recorder), Some(dir)) = (recorder, &options.out) {
        recorder.record_events(&report.late_events);
        eprintln!("{}", report::describe_recording(dir, &recorder.finish()?));
    }
    if let Some(error) = report.capture_error {
        return Err(error.into());
    }
    for warning in report::warnings(&report.stats, false) {
        eprintln!("warning: {warning}");
    }
    Ok(report.stats)
}
