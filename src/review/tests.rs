use super::*;
use crate::session::{frames_csv_header, parse_eaf};

/// A row of frames.csv as the writer lays it out, at `seconds`, with a spotting score.
fn frame_row(frame: u64, seconds: f64, score: Option<f32>) -> String {
    let mut fields = vec![frame.to_string(), "1".into(), format!("{seconds:.6}"), "0.950".into(), "1".into()];
    fields.extend((0..136).map(|i| format!("{:.3}", 100.0 + i as f32)));
    fields.push("123".into());
    fields.extend(["200.00", "120.00", "180.00", "180.00"].map(String::from));
    fields.extend(["0.7000000", "0.0100000", "-100.0000", "-50.0000"].map(String::from));
    fields.extend(["1", "0.1", "0.0", "0.0", "1.0"].map(String::from));
    fields.extend(std::iter::repeat_n("0.0500".to_string(), 8));
    fields.extend([score.map(|s| format!("{s:.3}")).unwrap_or_default(), "8.00".into(), "0".into()]);
    fields.extend(["0.2000", "0.3000", "0.5000"].map(String::from));
    fields.join(",")
}

fn record(id: u64, kind: EventKind, onset_frame: u64, offset_frame: u64, emotion: Option<&str>) -> EventRecord {
    let ms = |frame: u64| (frame - 1) as f64 * 40.0;
    EventRecord {
        id,
        row_type: RowType::Event(kind),
        onset_frame,
        apex_frame: (onset_frame + offset_frame) / 2,
        offset_frame,
        onset_ms: ms(onset_frame),
        apex_ms: ms((onset_frame + offset_frame) / 2),
        offset_ms: ms(offset_frame),
        duration_ms: ms(offset_frame) - ms(onset_frame),
        confidence: Some(0.5),
        aus: "4".into(),
        emotion: emotion.map(str::to_owned),
        probabilities: emotion.map(|_| [0.6, 0.3, 0.1]),
        status: EventStatus::Auto,
        label: None,
        note: String::new(),
    }
}

/// A session folder of 100 frames at 25 fps with three spotted events (micro #1 at 0.4-0.8 s,
/// macro #2 at 1.6-2.8 s, micro #3 at 3.0-3.4 s), linked to a video elsewhere.
fn session_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut frames = frames_csv_header().join(",");
    for i in 0..100u64 {
        // A score peak at frame 61 (2.4 s).
        let score = if i == 0 { None } else { Some(if i == 60 { 12.0 } else { 1.0 + (i % 7) as f32 * 0.1 }) };
        frames.push('\n');
        frames.push_str(&frame_row(i + 1, i as f64 * 0.04, score));
    }
    frames.push('\n');
    std::fs::write(dir.path().join(FRAMES_CSV), frames).unwrap();
    let records = [
        record(1, EventKind::Micro, 11, 21, Some("negative")),
        record(2, EventKind::Macro, 41, 71, None),
        record(3, EventKind::Micro, 76, 86, Some("positive")),
    ];
    write_events_csv(&dir.path().join(EVENTS_CSV), &records).unwrap();
    let media = dir.path().join("elsewhere").join("clip.mp4");
    write_eaf(&dir.path().join(SESSION_EAF), Some(&media), Some(&dir.path().join(FRAMES_CSV)), &[]).unwrap();
    std::fs::write(
        dir.path().join(SESSION_JSON),
        r#"{"software":"glimpse","source":{"kind":"file","name":"clip.mp4","width":640,"height":480,"nominal_fps":25.0,"frame_count":100},"settings":{"align_by":"Landmarks","paced":false}}"#,
    )
    .unwrap();
    dir
}

#[test]
fn loads_a_session_folder() {
    let dir = session_folder();
    let session = ReviewSession::load(dir.path()).unwrap();
    assert_eq!(session.frames().len(), 100);
    assert_eq!(session.records().len(), 3);
    assert_eq!(session.frame_size(), Some((640, 480)));
    assert_eq!(session.align_by(), AlignBy::Landmarks);
    assert!(!session.has_unsaved_edits());
    let Media::Blank { looked_for } = session.media() else { panic!("no video exists: {:?}", session.media()) };
    assert!(looked_for.contains("video.mp4") && looked_for.contains("clip.mp4 (linked from session.eaf)"), "{looked_for}");
    assert!(session.frames().rows()[5].landmarks.is_some());

    // The folder's own video first, then the linked one.
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::fs::write(dir.path().join("elsewhere").join("clip.mp4"), b"x").unwrap();
    assert_eq!(ReviewSession::load(dir.path()).unwrap().media(), &Media::Video(dir.path().join("elsewhere").join("clip.mp4")));
    std::fs::write(dir.path().join(SESSION_VIDEO), b"x").unwrap();
    assert_eq!(ReviewSession::load(dir.path()).unwrap().media(), &Media::Video(dir.path().join(SESSION_VIDEO)));
}

#[test]
fn load_errors_name_the_file_and_the_fault() {
    let dir = session_folder();
    let error = |path: &Path| ReviewSession::load(path).unwrap_err().to_string();
    let nowhere = dir.path().join("nowhere");
    assert!(error(&nowhere).contains("no session folder") && error(&nowhere).contains("nowhere"), "{}", error(&nowhere));
    let file = dir.path().join(FRAMES_CSV);
    assert!(error(&file).contains("not a folder"), "{}", error(&file));

    std::fs::write(dir.path().join(SESSION_JSON), "{ not json").unwrap();
    let message = error(dir.path());
    assert!(message.contains("session.json") && message.contains("malformed"), "{message}");
    std::fs::remove_file(dir.path().join(SESSION_JSON)).unwrap();
    assert!(ReviewSession::load(dir.path()).is_ok(), "session.json is optional");

    let events = std::fs::read_to_string(dir.path().join(EVENTS_CSV)).unwrap();
    std::fs::write(dir.path().join(EVENTS_CSV), events.replacen(",auto,", ",perhaps,", 1)).unwrap();
    let message = error(dir.path());
    assert!(message.contains("events.csv") && message.contains("line 2") && message.contains("perhaps"), "{message}");
    std::fs::remove_file(dir.path().join(EVENTS_CSV)).unwrap();
    let message = error(dir.path());
    assert!(message.contains("events.csv") && message.contains("missing"), "{message}");

    std::fs::write(dir.path().join(FRAMES_CSV), "frame,face_id,timestamp,confidence,success\n1,1,zero,1,1\n").unwrap();
    std::fs::write(dir.path().join(EVENTS_CSV), events).unwrap();
    let message = error(dir.path());
    assert!(message.contains("frames.csv") && message.contains("timestamp"), "{message}");
    std::fs::remove_file(dir.path().join(FRAMES_CSV)).unwrap();
    let message = error(dir.path());
    assert!(message.contains("frames.csv") && message.contains("missing"), "{message}");
}

#[test]
fn each_edit_changes_its_event_only() {
    let dir = session_folder();
    let mut session = ReviewSession::load(dir.path()).unwrap();
    let status = |s: &ReviewSession, id| s.record(id).map(|r| r.status);

    session.confirm(1).unwrap();
    assert_eq!(status(&session, 1), Some(EventStatus::Confirmed));
    assert!(session.has_unsaved_edits());
    session.reject(2).unwrap();
    assert_eq!(status(&session, 2), Some(EventStatus::Rejected));
    session.confirm(2).unwrap();
    assert_eq!(status(&session, 2), Some(EventStatus::Confirmed), "a rejection can be taken back");
    session.reject(2).unwrap();

    session.relabel(3, Some("surprise")).unwrap();
    let third = session.record(3).unwrap();
    assert_eq!(
        (third.label.as_deref(), third.emotion.as_deref(), third.status),
        (Some("surprise"), Some("positive"), EventStatus::Confirmed)
    );
    assert_eq!(third.emotion_shown(), Some("surprise"));
    session.relabel(3, Some("positive")).unwrap();
    assert_eq!(session.record(3).unwrap().label, None, "the model's own label is no relabelling");
    session.relabel(3, Some("others")).unwrap();
    assert!(matches!(session.relabel(3, Some("joy")), Err(ReviewError::UnknownLabel(_))));

    session.set_note(1, "brow lowering, clear").unwrap();
    assert_eq!(session.record(1).unwrap().note, "brow lowering, clear");
    assert!(matches!(session.confirm(99), Err(ReviewError::NoEvent(99))));
    assert!(matches!(session.remove(1), Err(ReviewError::NotManual(1))));

    // A manual macro event from 1.62 s to 2.5 s: frames shown then, apex at the score peak.
    let id = session.add_event(EventKind::Macro, 1.62, 2.5, Some("positive")).unwrap();
    assert_eq!(id, 4);
    let manual = session.record(id).unwrap();
    assert_eq!((manual.onset_frame, manual.apex_frame, manual.offset_frame), (41, 61, 63));
    assert!((manual.onset_ms - 1600.0).abs() < 1e-6 && (manual.offset_ms - 2480.0).abs() < 1e-6, "{manual:?}");
    assert!((manual.duration_ms - 880.0).abs() < 1e-6);
    assert_eq!((manual.status, manual.confidence, manual.label.as_deref()), (EventStatus::Manual, None, Some("positive")));
    session.confirm(id).unwrap();
    assert_eq!(status(&session, id), Some(EventStatus::Manual), "a manual event stays manual");
    assert!(matches!(session.add_event(EventKind::Micro, 2.0, 2.01, None), Err(ReviewError::BadInterval { .. })), "same frame");
    assert!(matches!(session.add_event(EventKind::Micro, 2.0, 1.0, None), Err(ReviewError::BadInterval { .. })));

    let note = session.add_note(3.21, "  looks away  ").unwrap();
    let row = session.record(note).unwrap();
    assert_eq!((row.row_type, row.onset_frame, row.offset_frame, row.note.as_str()), (RowType::Note, 81, 81, "looks away"));
    assert!(matches!(session.confirm(note), Err(ReviewError::NotAnEvent(_))));
    assert!(matches!(session.add_note(1.0, "   "), Err(ReviewError::EmptyNote)));

    // Rejecting (deleting) a manual row frees nothing else.
    let extra = session.add_event(EventKind::Micro, 0.0, 0.2, None).unwrap();
    session.reject(extra).unwrap();
    assert!(session.record(extra).is_none());
    assert_eq!(session.records().iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn next_and_previous_event_by_time() {
    let dir = session_folder();
    let mut session = ReviewSession::load(dir.path()).unwrap();
    session.add_note(1.0, "a note is not an event").unwrap();
    let id = |event: Option<&EventRecord>| event.map(|e| e.id);
    assert_eq!(id(session.next_event(0.0)), Some(1));
    assert_eq!(id(session.next_event(0.4)), Some(2), "from an event's onset, the next one");
    assert_eq!(id(session.next_event(3.0)), None);
    assert_eq!(id(session.previous_event(3.0)), Some(2));
    assert_eq!(id(session.previous_event(0.4)), None);
    assert_eq!(session.events_at(0.5).iter().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
    assert!(session.events_at(1.0).is_empty());
}

#[test]
fn save_writes_the_review_and_leaves_frames_csv_alone() {
    let dir = session_folder();
    let frames_before = std::fs::read(dir.path().join(FRAMES_CSV)).unwrap();
    let mut session = ReviewSession::load(dir.path()).unwrap();
    session.confirm(1).unwrap();
    session.set_note(1, "clear & <sharp>").unwrap();
    session.reject(2).unwrap();
    session.set_note(2, "a blink").unwrap();
    session.relabel(3, Some("surprise")).unwrap();
    let manual = session.add_event(EventKind::Micro, 3.6, 3.9, None).unwrap();
    let note = session.add_note(2.0, "subject laughs").unwrap();
    session.save().unwrap();
    assert!(!session.has_unsaved_edits());

    assert_eq!(std::fs::read(dir.path().join(FRAMES_CSV)).unwrap(), frames_before, "frames.csv is never written");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // events.csv reads back with every edit, ids kept.
    let saved = read_events_csv(&dir.path().join(EVENTS_CSV)).unwrap();
    assert_eq!(saved, session.records());
    let by_id = |id: u64| saved.iter().find(|r| r.id == id).unwrap();
    assert_eq!((by_id(1).status, by_id(1).note.as_str()), (EventStatus::Confirmed, "clear & <sharp>"));
    assert_eq!(by_id(2).status, EventStatus::Rejected);
    assert_eq!(by_id(3).label.as_deref(), Some("surprise"));
    assert_eq!(by_id(manual).status, EventStatus::Manual);
    assert_eq!(by_id(note).row_type, RowType::Note);

    // session.eaf: rejected events left out, the new label, the manual event, the notes.
    let text = std::fs::read_to_string(dir.path().join(SESSION_EAF)).unwrap();
    let tiers = parse_eaf(&text);
    let values = |tier: &str| -> Vec<String> {
        tiers.iter().find(|(name, _)| name == tier).map(|(_, list)| list.iter().map(|a| a.2.clone()).collect()).unwrap()
    };
    assert_eq!(
        values(MICRO_TIER),
        vec![
            "#1 negative, AU 4, confidence 0.50 (confirmed)".to_string(),
            "#3 surprise, AU 4, confidence 0.50 (confirmed; the model said positive)".to_string(),
            format!("#{manual} micro, AU ? (manual)"),
        ]
    );
    assert!(values(MACRO_TIER).is_empty(), "the rejected macro event is left out");
    assert_eq!(values(NOTES_TIER), vec!["#1: clear & <sharp>".to_string(), "#2: a blink".into(), "subject laughs".into()]);
    let notes = &tiers.iter().find(|(name, _)| name == NOTES_TIER).unwrap().1;
    assert_eq!((notes[2].0, notes[2].1), (2000, 3000), "a note at a time spans NOTE_SPAN_MS in ELAN");
    let micro = &tiers.iter().find(|(name, _)| name == MICRO_TIER).unwrap().1;
    assert_eq!((micro[0].0, micro[0].1), (400, 800));
    assert_eq!(eaf_media(&text, dir.path()), Some(dir.path().join("elsewhere").join("clip.mp4")), "the same media");
    assert!(text.contains(r#"RELATIVE_LINK_URL="./frames.csv""#));

    // Loaded again, the review is all there.
    let again = ReviewSession::load(dir.path()).unwrap();
    assert_eq!(again.records(), session.records());
}

#[test]
fn saving_an_unedited_session_keeps_events_csv_as_it_was() {
    let dir = session_folder();
    let before = std::fs::read(dir.path().join(EVENTS_CSV)).unwrap();
    let mut session = ReviewSession::load(dir.path()).unwrap();
    session.save().unwrap();
    assert_eq!(std::fs::read(dir.path().join(EVENTS_CSV)).unwrap(), before);
}
