//! `glimpse bench INPUT`: decode-only throughput of the input (the physical limit), then the
//! whole pipeline as fast as it goes, with per-stage timings.

use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::capture::{SourceSpec, open_source};
use crate::pipeline::{LatencyHistogram, OutputPolicy, Pipeline, PipelineConfig, PipelineStats, TimingSummary};
use crate::synth::SynthSpec;

use super::{CommandError, StopFlag, report};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeBench {
    pub frames: u64,
    pub seconds: f64,
    pub fps: f64,
    pub per_frame: TimingSummary,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub input: String,
    pub cores: usize,
    pub decode: DecodeBench,
    pub pipeline: PipelineStats,
    pub pipeline_fps: f64,
}

/// Reads every frame (up to `max_frames`) and does nothing else.
pub fn decode_only(input: &SourceSpec, synth: &SynthSpec, max_frames: Option<u64>) -> Result<DecodeBench, CommandError> {
    let mut source = open_source(input, synth.clone())?;
    let mut histogram = LatencyHistogram::default();
    let started = Instant::now();
    let mut frames = 0u64;
    while max_frames.is_none_or(|max| frames < max) {
        let read_started = Instant::now();
        let Some(frame) = source.next_frame()? else { break };
        histogram.record(read_started.elapsed());
        drop(frame);
        frames += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(DecodeBench { frames, seconds, fps: if seconds > 0.0 { frames as f64 / seconds } else { 0.0 }, per_frame: histogram.summary() })
}

pub fn run(input: &SourceSpec, synth: &SynthSpec, max_frames: Option<u64>, stop: &StopFlag) -> Result<BenchReport, CommandError> {
    let decode = decode_only(input, synth, max_frames)?;
    let source = open_source(input, synth.clone())?;
    let mut warnings = Vec::new();
    let mer_model = super::recognition_model(&mut warnings)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let config = PipelineConfig { output: OutputPolicy::Lossless, max_frames, mer_model, ..PipelineConfig::default() };
    let pipeline = Pipeline::start(source, config)?;
    loop {
        if stop.is_raised() {
            pipeline.stop();
        }
        match pipeline.results().recv_timeout(Duration::from_millis(200)) {
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let finished = pipeline.finish()?;
    if let Some(error) = finished.capture_error {
        return Err(error.into());
    }
    let stats = finished.stats;
    Ok(BenchReport {
        input: input.to_string(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        decode,
        pipeline_fps: stats.analysis_fps(),
        pipeline: stats,
    })
}

pub fn format(report_: &BenchReport) -> String {
    let d = &report_.decode;
    let mut out = format!(
        "glimpse bench: {} on {} cores\n\ndecode only:   {:.1} frames/s ({} frames in {:.2} s; per frame mean {:.3} ms, p50 {:.3}, p95 {:.3}, p99 {:.3})\n\nwhole pipeline:\n",
        report_.input, report_.cores, d.fps, d.frames, d.seconds, d.per_frame.mean_ms, d.per_frame.p50_ms, d.per_frame.p95_ms, d.per_frame.p99_ms
    );
    out.push_str(&report::format_summary(&report_.pipeline));
    out
}
