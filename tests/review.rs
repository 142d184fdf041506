//! Review round trip with the real binary: a session recorded by `glimpse analyse --record`
//! loads in review with the same events the analysis wrote, and a reviewed save rewrites
//! events.csv and session.eaf with the edits while frames.csv stays byte for byte the same.

use std::process::Command;

use glimpse::capture::{Source, VideoFileSource};
use glimpse::review::{Media, ReviewSession, ReviewVideo};
use glimpse::session::{EVENTS_CSV_HEADER, EventStatus, MACRO_TIER, MICRO_TIER, NOTES_TIER, read_events_csv};
use glimpse::spotting::EventKind;
use opencv::prelude::*;

#[path = "common/session.rs"]
mod session;

/// Annotation values per tier of an EAF document.
fn tiers(text: &str) -> Vec<(String, Vec<String>)> {
    use xml::reader::{EventReader, XmlEvent};
    let mut tiers: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_value = false;
    for event in EventReader::from_str(text) {
        match event.expect("well-formed XML") {
            XmlEvent::StartElement { name, attributes, .. } => match name.local_name.as_str() {
                "TIER" => {
                    tiers.push((attributes.iter().find(|a| a.name.local_name == "TIER_ID").unwrap().value.clone(), Vec::new()))
                }
                "ANNOTATION_VALUE" => in_value = true,
                _ => {}
            },
            XmlEvent::Characters(value) if in_value => tiers.last_mut().unwrap().1.push(value),
            XmlEvent::EndElement { name } if name.local_name == "ANNOTATION_VALUE" => in_value = false,
            _ => {}
        }
    }
    tiers
}

fn tier<'a>(tiers: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    &tiers.iter().find(|(id, _)| id == name).unwrap_or_else(|| panic!("no tier {name}")).1
}

#[test]
fn a_synthetic_session_reviews_and_saves_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let folder = session::recorded_session(dir.path());

    // The files of the session.
    let events_text = std::fs::read_to_string(folder.join("events.csv")).unwrap();
    assert_eq!(events_text.lines().next().unwrap(), EVENTS_CSV_HEADER.join(","));
    let written = read_events_csv(&folder.join("events.csv")).unwrap();
    assert!(written.len() >= 3, "the 12-s video has 4 micro and 1 macro expressions; spotted: {}", written.len());
    assert!(written.iter().all(|e| e.status == EventStatus::Auto && e.label.is_none() && e.note.is_empty()));
    let frames_before = std::fs::read(folder.join("frames.csv")).unwrap();
    let eaf_before = std::fs::read_to_string(folder.join("session.eaf")).unwrap();
    assert_eq!(
        tier(&tiers(&eaf_before), MICRO_TIER).len(),
        written.iter().filter(|e| e.kind() == Some(EventKind::Micro)).count()
    );

    // Review loads the same events, the video and every frame.
    let mut review = ReviewSession::load(&folder).unwrap();
    assert_eq!(review.records(), written.as_slice());
    assert_eq!(review.media(), &Media::Video(folder.join("video.mp4")));
    assert_eq!(review.frames().len(), frames_before.iter().filter(|&&b| b == b'\n').count() - 1);
    // The video's frame at an event's apex is the one the analysis saw there.
    let apex = written[0].apex_frame as usize - 1;
    let mut reference = VideoFileSource::open(&folder.join("video.mp4")).unwrap();
    let mut expected = None;
    while let Some(frame) = reference.next_frame().unwrap() {
        if frame.index as usize == apex {
            assert!((frame.time.seconds - review.frames().rows()[apex].seconds).abs() < 1e-5);
            expected = Some(frame.image.data_bytes().unwrap().to_vec());
            break;
        }
    }
    let mut video = ReviewVideo::open(&folder.join("video.mp4"), review.frames().timestamps().into()).unwrap();
    video.frame(review.frames().len() - 1).unwrap();
    assert_eq!(video.frame(apex).unwrap().data_bytes().unwrap(), expected.unwrap().as_slice(), "frame {apex} after a seek back");

    // An unedited save changes nothing in events.csv.
    review.save().unwrap();
    assert_eq!(std::fs::read_to_string(folder.join("events.csv")).unwrap(), events_text);

    // Review: confirm, reject, relabel, note, a manual event and a note at a time.
    let (first, second) = (written[0].id, written[1].id);
    review.confirm(first).unwrap();
    review.set_note(first, "clear brow lowering").unwrap();
    review.reject(second).unwrap();
    let third = written.get(2).map(|e| e.id).unwrap();
    review.relabel(third, Some("surprise")).unwrap();
    let manual = review.add_event(EventKind::Micro, 3.0, 3.3, Some("negative")).unwrap();
    let note = review.add_note(4.0, "looks at the door").unwrap();
    review.save().unwrap();

    assert_eq!(std::fs::read(folder.join("frames.csv")).unwrap(), frames_before, "frames.csv is never touched");
    let saved = read_events_csv(&folder.join("events.csv")).unwrap();
    assert_eq!(saved.len(), written.len() + 2);
    for original in &written {
        let now = saved.iter().find(|e| e.id == original.id).expect("every event keeps its id");
        assert_eq!(
            (now.onset_frame, now.offset_frame, now.kind()),
            (original.onset_frame, original.offset_frame, original.kind())
        );
    }
    let by_id = |id| saved.iter().find(|e| e.id == id).unwrap();
    assert_eq!(by_id(first).status, EventStatus::Confirmed);
    assert_eq!(by_id(second).status, EventStatus::Rejected);
    assert_eq!((by_id(third).status, by_id(third).label.as_deref()), (EventStatus::Confirmed, Some("surprise")));
    assert_eq!((by_id(manual).status, by_id(manual).label.as_deref()), (EventStatus::Manual, Some("negative")));
    assert_eq!(by_id(note).note, "looks at the door");

    let eaf = std::fs::read_to_string(folder.join("session.eaf")).unwrap();
    let reviewed = tiers(&eaf);
    let all: Vec<&String> = [MICRO_TIER, MACRO_TIER].iter().flat_map(|t| tier(&reviewed, t)).collect();
    assert!(!all.iter().any(|v| v.starts_with(&format!("#{second} "))), "the rejected event is left out: {all:?}");
    assert!(all.iter().any(|v| v.starts_with(&format!("#{third} surprise,"))), "{all:?}");
    assert!(tier(&reviewed, MICRO_TIER).iter().any(|v| v.starts_with(&format!("#{manual} negative"))), "{all:?}");
    let notes = tier(&reviewed, NOTES_TIER);
    assert!(
        notes.contains(&format!("#{first}: clear brow lowering")) && notes.contains(&"looks at the door".to_string()),
        "{notes:?}"
    );
    // The same media and frames.csv stay linked.
    let media_line = |text: &str| text.lines().find(|l| l.contains("<MEDIA_DESCRIPTOR")).map(str::to_owned);
    assert_eq!(media_line(&eaf), media_line(&eaf_before));
    assert!(eaf.contains(r#"RELATIVE_LINK_URL="./frames.csv""#));

    // Loaded again: the review as saved.
    assert_eq!(ReviewSession::load(&folder).unwrap().records(), saved.as_slice());
}

#[test]
fn review_of_a_missing_folder_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-session");
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse")).arg("review").arg(&missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no session folder") && stderr.contains("no-such-session"), "{stderr}");
    std::fs::create_dir(&missing).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse")).arg("review").arg(&missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("frames.csv") && stderr.contains("missing"), "{stderr}");
}
