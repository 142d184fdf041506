//! Spotting and recognition end to end: `glimpse synth` -> `glimpse analyse` -> `events.csv`
//! against the truth table, the event pictures, the per-frame spotting columns, events written
//! while the stream is still running, and `glimpse eval spotting`.

use std::path::Path;
use std::process::Command;

use glimpse::capture::UnpluggedCamera;
use glimpse::commands::StopFlag;
use glimpse::commands::analyse::analyse_source;
use glimpse::commands::eval::interval_iou;
use glimpse::pipeline::PipelineConfig;
use glimpse::session::EVENTS_CSV_HEADER;
use glimpse::synth::{EventKind, SynthSpec, SyntheticFace, read_truth_csv};

#[path = "common/synth.rs"]
mod synth;

fn glimpse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("the binary runs")
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    (header, reader.records().map(Result::unwrap).collect())
}

#[test]
fn synthetic_micro_expressions_are_spotted_recognised_and_pictured() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("face.mp4");
    let truth_path = dir.path().join("truth.csv");
    let out = dir.path().join("session");
    synth::synth_video(&video, &truth_path, 14, 5, 1, 3);
    let analysed = glimpse(&["analyse", video.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&analysed.stderr);
    assert!(analysed.status.success(), "{stderr}");

    let (header, events) = read_csv(&out.join("events.csv"));
    assert_eq!(header, EVENTS_CSV_HEADER.to_vec());
    let truth = read_truth_csv(&truth_path).unwrap();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let frames = |row: &csv::StringRecord| -> (u64, u64) {
        (row[col("onset_frame")].parse().unwrap(), row[col("offset_frame")].parse().unwrap())
    };
    // Every true micro-expression of at least 1 px is found as a micro event (IoU >= 0.5).
    for t in truth.iter().filter(|t| t.kind == EventKind::Micro && t.amplitude_px >= 1.0) {
        let hit = events
            .iter()
            .filter(|row| &row[col("type")] == "micro")
            .any(|row| interval_iou(frames(row), (t.onset_frame, t.offset_frame)) >= 0.5);
        assert!(hit, "missed {t:?}\nfound {events:?}\n{stderr}");
    }
    // On the neutral face between events: at most two candidates, and weak ones (a few frames of
    // compression noise can pass the weak-motion rules; `glimpse eval spotting` counts them).
    let is_false_alarm =
        |row: &csv::StringRecord| truth.iter().all(|t| interval_iou(frames(row), (t.onset_frame, t.offset_frame)) == 0.0);
    let false_alarms: Vec<&csv::StringRecord> = events.iter().filter(|row| is_false_alarm(row)).collect();
    assert!(false_alarms.len() <= 2, "false alarms {false_alarms:?}");
    for row in false_alarms {
        assert!(row[col("confidence")].parse::<f64>().unwrap() < 0.2, "a confident false alarm {row:?}");
    }
    for row in events.iter().filter(|row| &row[col("type")] == "micro") {
        let p: Vec<f64> = ["p_negative", "p_positive", "p_surprise"].iter().map(|c| row[col(c)].parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-3, "probabilities {p:?}");
        assert!(["negative", "positive", "surprise"].contains(&&row[col("emotion")]));
        // A weak false alarm may have moved no region enough for an AU.
        assert!(is_false_alarm(row) || !row[col("aus")].is_empty(), "an AU guess for {row:?}");
        let confidence: f64 = row[col("confidence")].parse().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
        let (onset, apex, offset): (u64, u64, u64) = (
            row[col("onset_frame")].parse().unwrap(),
            row[col("apex_frame")].parse().unwrap(),
            row[col("offset_frame")].parse().unwrap(),
        );
        assert!(onset < apex && apex < offset, "{row:?}");
        let pictures = out.join("events").join(&row[col("event_id")]);
        for name in ["onset", "apex", "offset", "flow", "cof", "mm_cof", "di_onset_apex", "di_apex_offset"] {
            let png = pictures.join(format!("{name}.png"));
            let image = opencv::imgcodecs::imread(png.to_str().unwrap(), opencv::imgcodecs::IMREAD_COLOR).unwrap();
            assert_eq!(opencv::prelude::MatTraitConst::cols(&image), 128, "{}", png.display());
        }
    }

    // What the session was made from, with the models' hashes.
    let session: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("session.json")).unwrap()).unwrap();
    assert_eq!(session["software"], "glimpse");
    assert!(session["source"]["name"].as_str().unwrap().contains("face.mp4"), "{session}");
    assert_eq!(session["settings"]["spotting"]["sensitivity"].as_f64(), Some(8.0));
    let models = session["models"].as_array().unwrap();
    let mer = models.iter().find(|m| m["name"] == "mer.onnx").expect("the MER model is listed");
    assert_eq!(mer["sha256"].as_str().map(str::len), Some(64), "{mer}");
    assert_eq!(mer["loaded"], true);

    // ELAN: the analysed video linked, one annotation per event, on the tier of its type.
    let eaf = std::fs::read_to_string(out.join("session.eaf")).unwrap();
    assert!(eaf.contains("face.mp4") && eaf.contains(r#"MIME_TYPE="video/mp4""#), "{eaf}");
    assert_eq!(eaf.matches("<ALIGNABLE_ANNOTATION").count(), events.len());
    for row in &events {
        let onset_ms = row[col("onset_ms")].parse::<f64>().unwrap().round() as u64;
        assert!(eaf.contains(&format!(r#"TIME_VALUE="{onset_ms}""#)), "onset {onset_ms} ms in the EAF");
    }

    let (frame_header, rows) = read_csv(&out.join("frames.csv"));
    for name in ["spot_score", "spot_threshold", "spot_active", "p_negative", "p_positive", "p_surprise"] {
        assert!(frame_header.iter().any(|h| h == name), "frames.csv lacks {name}");
    }
    let score = frame_header.iter().position(|h| h == "spot_score").unwrap();
    let scored = rows.iter().filter(|r| !r[score].is_empty()).count();
    assert!(scored * 10 >= rows.len() * 8, "the spotter judged {scored} of {} frames", rows.len());
    let last = rows.last().unwrap();
    let p_surprise = frame_header.iter().position(|h| h == "p_surprise").unwrap();
    assert!(!last[p_surprise].is_empty(), "the latest probabilities are carried to the last frame");
}

#[test]
fn events_found_before_a_camera_dies_are_already_in_events_csv() {
    let spec = SynthSpec { seconds: 12.0, micro_events: 4, macro_events: 0, seed: 5, ..SynthSpec::default() };
    let face = SyntheticFace::new(spec.clone()).unwrap();
    let first = face.truth().iter().find(|t| t.kind == EventKind::Micro && t.amplitude_px >= 1.0).unwrap().clone();
    // Dies a second after the first clear event, long before the video would end.
    let source = UnpluggedCamera::new(spec, first.offset_frame + 30).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig { ring_capacity: 64, ..PipelineConfig::default() };
    let error = analyse_source(Box::new(source), config, dir.path(), false, false, &StopFlag::default())
        .err()
        .expect("the lost camera is reported");
    assert!(error.to_string().contains("camera"), "{error}");
    let (_, events) = read_csv(&dir.path().join("events.csv"));
    let hit = events.iter().any(|row| {
        let (onset, offset): (u64, u64) = (row[2].parse().unwrap(), row[4].parse().unwrap());
        interval_iou((onset, offset), (first.onset_frame, first.offset_frame)) >= 0.5
    });
    assert!(hit, "event {first:?} is saved although the camera died: {events:?}");
}

#[test]
fn eval_spotting_scores_against_the_truth() {
    let out = glimpse(&["eval", "spotting", "--seeds", "1", "--seconds", "12", "--no-videos", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let micro = &report["micro"];
    let (truth, hits) = (micro["true_events"].as_u64().unwrap(), micro["hits"].as_u64().unwrap());
    assert_eq!(truth, 5, "12 s carry 5 micro-expressions");
    assert!(hits >= 3, "{report}");
    assert!(report["spotting_per_frame"]["mean_ms"].as_f64().unwrap() > 0.0);
}
