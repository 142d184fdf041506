//! The end-of-run summary: frames, face found, speed, per-stage timings, drops.

use std::fmt::Write;

use crate::pipeline::{PipelineStats, TimingSummary};

fn timing_row(out: &mut String, name: &str, t: &TimingSummary) {
    let _ = writeln!(out, "  {name:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9}", t.mean_ms, t.p50_ms, t.p95_ms, t.p99_ms, t.count);
}

/// A human-readable summary of a pipeline run.
pub fn format_summary(stats: &PipelineStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "source:        {} ({}x{}, {:.2} fps nominal)",
        stats.source.name, stats.source.width, stats.source.height, stats.source.nominal_fps
    );
    let _ = writeln!(out, "frames:        {} read, {} analysed", stats.frames_read, stats.frames_analysed);
    let _ = writeln!(out, "face found:    {:.1} % of analysed frames", stats.face_found_percent());
    let _ = writeln!(out, "speed:         {:.1} frames/s over {:.2} s wall time", stats.analysis_fps(), stats.wall_seconds);
    let _ = writeln!(
        out,
        "drops:         {} frames dropped by the capture ring (capacity {}, high water {}), {} results dropped by a slow reader",
        stats.ring.dropped, stats.ring.capacity, stats.ring.high_water, stats.output_dropped
    );
    let _ = writeln!(out, "timings (ms):      mean       p50       p95       p99    frames");
    for (name, timing) in &stats.stages {
        timing_row(&mut out, name, timing);
    }
    timing_row(&mut out, "end-to-end", &stats.end_to_end);
    timing_row(&mut out, "per event", &stats.event_analysis);
    if let Some(cost) = stats.spotting_cost_per_frame_ms() {
        let _ = writeln!(
            out,
            "spotting and recognition: {cost:.3} ms per frame on average (spotter per frame + event analysis spread over all frames)"
        );
    }
    let c = &stats.spotter;
    let _ = writeln!(
        out,
        "spotting:      {} events from {} candidates ({} too long, {} too short, {} below the confidence floor, {} cut by a lost face), {} frames unreliable{}",
        c.events,
        c.candidates,
        c.too_long,
        c.too_short,
        c.low_confidence,
        c.interrupted,
        c.unreliable_frames,
        if stats.events_unanalysed > 0 {
            format!(", {} events passed on unanalysed", stats.events_unanalysed)
        } else {
            String::new()
        }
    );
    out
}

/// Warnings a user should see after a run, e.g. a face that was never found. `read_to_end`: the
/// source was read until it had no more frames (not stopped early).
pub fn warnings(stats: &PipelineStats, read_to_end: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    if stats.frames_analysed > 0 && stats.faces_found == 0 {
        warnings.push(format!(
            "no face was found in any of the {} frames of {}: is a face in view, lit and facing the camera?",
            stats.frames_analysed, stats.source.name
        ));
    } else if stats.frames_analysed > 0 && stats.face_found_percent() < 50.0 {
        warnings.push(format!(
            "a face was found in only {:.1} % of the frames of {}",
            stats.face_found_percent(),
            stats.source.name
        ));
    }
    if stats.frames_analysed == 0 {
        warnings.push(format!("no frame could be read from {}", stats.source.name));
    }
    if let Some(expected) = stats.source.frame_count
        && read_to_end
        && stats.frames_read + 1 < expected
        && stats.source.kind == crate::capture::SourceKind::File
    {
        warnings.push(format!(
            "{} announces {expected} frames but only {} could be decoded: the file may be truncated",
            stats.source.name, stats.frames_read
        ));
    }
    warnings
}

/// One line about a spotted event, for the console.
pub fn describe_event(analysed: &crate::recognition::AnalysedEvent) -> String {
    let e = &analysed.event;
    let emotion = match &analysed.recognition {
        Some(r) => format!(
            "{} ({})",
            r.emotion,
            crate::inference::MER_CLASSES
                .iter()
                .zip(r.probabilities)
                .map(|(class, p)| format!("{class} {p:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "no emotion".into(),
    };
    format!(
        "{:>8.2} s  {} event {}: onset {:.2} s, apex {:.2} s, offset {:.2} s ({:.0} ms), AU {}, {}, confidence {:.2}",
        e.offset.seconds,
        e.kind,
        e.id,
        e.onset.seconds,
        e.apex.seconds,
        e.offset.seconds,
        e.duration_ms(),
        if analysed.aus.is_empty() { "?" } else { &analysed.aus },
        emotion,
        e.confidence
    )
}

/// One line on what a session folder received.
pub fn describe_recording(dir: &std::path::Path, recording: &crate::session::RecordingInfo) -> String {
    let video = match &recording.video {
        Some(file) => format!(", {file} ({} frames)", recording.video_frames),
        None => String::new(),
    };
    let dropped = match recording.frames_dropped {
        0 => String::new(),
        n => format!("; {n} frames dropped by the recorder"),
    };
    format!(
        "wrote {}: frames.csv ({} rows), events.csv ({} events){video}, session.eaf, session.json{dropped}",
        dir.display(),
        recording.frames_written,
        recording.events_written
    )
}
