//! `session.eaf`: the events as an ELAN annotation document (EAF 3.0), the format annotators open.
//! One tier for micro events, one for macro events and an empty one for reviewer notes; times in
//! milliseconds of the video's time line; the video linked as the media and `frames.csv` as a
//! linked file. The document is rewritten whole (to a temporary file, then renamed over the old
//! one) each time an event arrives, so the file on disk is always a complete document.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::recognition::AnalysedEvent;
use crate::spotting::EventKind;

use super::SessionError;

pub const SESSION_EAF: &str = "session.eaf";

/// The tiers glimpse writes, by id.
pub const MICRO_TIER: &str = "micro-expressions";
pub const MACRO_TIER: &str = "macro-expressions";
pub const NOTES_TIER: &str = "reviewer notes";

/// One annotation on a tier.
#[derive(Debug, Clone, PartialEq)]
pub struct EafAnnotation {
    pub start_ms: u64,
    pub end_ms: u64,
    pub value: String,
}

impl EafAnnotation {
    /// An annotation from `onset_ms` to `offset_ms`, at least 1 ms long (ELAN needs end > start).
    pub fn spanning(onset_ms: f64, offset_ms: f64, value: String) -> Self {
        let start_ms = onset_ms.round().max(0.0) as u64;
        Self { start_ms, end_ms: (offset_ms.round().max(0.0) as u64).max(start_ms + 1), value }
    }
}

/// The label of an event in ELAN: `#id emotion (or type), AU guess, confidence`.
pub fn annotation_label(id: u64, what: &str, aus: &str, confidence: Option<f32>) -> String {
    let aus = if aus.is_empty() { "AU ?".to_string() } else { format!("AU {aus}") };
    match confidence {
        Some(confidence) => format!("#{id} {what}, {aus}, confidence {confidence:.2}"),
        None => format!("#{id} {what}, {aus}"),
    }
}

/// The label of an analysed event (see [`annotation_label`]).
pub fn event_label(analysed: &AnalysedEvent) -> String {
    let what = analysed.recognition.as_ref().map_or_else(|| analysed.event.kind.to_string(), |r| r.emotion.to_string());
    annotation_label(u64::from(analysed.event.id), &what, &analysed.aus, Some(analysed.event.confidence))
}

pub struct EafWriter {
    path: PathBuf,
    media: Option<PathBuf>,
    frames_csv: Option<PathBuf>,
    micro: Vec<EafAnnotation>,
    macro_: Vec<EafAnnotation>,
}

impl EafWriter {
    /// Writes an empty document at `path` right away (so a session always has one).
    pub fn create(path: &Path, media: Option<&Path>, frames_csv: Option<&Path>) -> Result<Self, SessionError> {
        let writer = Self {
            path: path.to_owned(),
            media: media.map(Path::to_owned),
            frames_csv: frames_csv.map(Path::to_owned),
            micro: Vec::new(),
            macro_: Vec::new(),
        };
        writer.save()?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn add(&mut self, analysed: &AnalysedEvent) -> Result<(), SessionError> {
        let e = &analysed.event;
        let annotation = EafAnnotation::spanning(e.onset.ms(), e.offset.ms(), event_label(analysed));
        match e.kind {
            EventKind::Micro => self.micro.push(annotation),
            EventKind::Macro => self.macro_.push(annotation),
        }
        self.save()
    }

    fn save(&self) -> Result<(), SessionError> {
        write_eaf(
            &self.path,
            self.media.as_deref(),
            self.frames_csv.as_deref(),
            &[(MICRO_TIER, &self.micro), (MACRO_TIER, &self.macro_), (NOTES_TIER, &[])],
        )
    }
}

/// Writes [`eaf_document`] to `path` whole (temporary file, then rename).
pub fn write_eaf(
    path: &Path,
    media: Option<&Path>,
    frames_csv: Option<&Path>,
    tiers: &[(&str, &[EafAnnotation])],
) -> Result<(), SessionError> {
    super::replace_file(path, eaf_document(media, frames_csv, tiers).as_bytes())
}

/// The media file a document links: its `MEDIA_URL` when that is a `file://` URL, else its
/// `RELATIVE_MEDIA_URL` taken from `dir` (the document's folder). `None` when it links none or
/// is not XML.
pub fn eaf_media(text: &str, dir: &Path) -> Option<PathBuf> {
    use xml::reader::{EventReader, XmlEvent};
    for event in EventReader::from_str(text) {
        let XmlEvent::StartElement { name, attributes, .. } = event.ok()? else { continue };
        if name.local_name != "MEDIA_DESCRIPTOR" {
            continue;
        }
        let attribute = |key: &str| attributes.iter().find(|a| a.name.local_name == key).map(|a| a.value.clone());
        if let Some(path) = attribute("MEDIA_URL").and_then(|url| url.strip_prefix("file://").map(PathBuf::from)) {
            return Some(path);
        }
        return attribute("RELATIVE_MEDIA_URL").filter(|r| !r.is_empty()).map(|relative| dir.join(relative));
    }
    None
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// `file://` URL of a path (made absolute against the working directory).
fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    format!("file://{}", escape(&absolute.to_string_lossy()))
}

fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("avi") => "video/x-msvideo",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("mpg" | "mpeg") => "video/mpeg",
        _ => "unknown",
    }
}

/// The whole EAF 3.0 document; tiers in the order given.
pub fn eaf_document(media: Option<&Path>, frames_csv: Option<&Path>, tiers: &[(&str, &[EafAnnotation])]) -> String {
    let mut out = String::new();
    let date = crate::session::utc_timestamp();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<ANNOTATION_DOCUMENT AUTHOR="glimpse {}" DATE="{date}" FORMAT="3.0" VERSION="3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">"#,
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, r#"    <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">"#);
    if let Some(media) = media {
        let relative = media.file_name().map(|n| format!("./{}", escape(&n.to_string_lossy()))).unwrap_or_default();
        let _ = writeln!(
            out,
            r#"        <MEDIA_DESCRIPTOR MEDIA_URL="{}" MIME_TYPE="{}" RELATIVE_MEDIA_URL="{relative}"/>"#,
            file_url(media),
            mime_type(media)
        );
    }
    if let Some(csv) = frames_csv {
        let relative = csv.file_name().map(|n| format!("./{}", escape(&n.to_string_lossy()))).unwrap_or_default();
        let _ = writeln!(
            out,
            r#"        <LINKED_FILE_DESCRIPTOR LINK_URL="{}" MIME_TYPE="text/plain" RELATIVE_LINK_URL="{relative}"/>"#,
            file_url(csv)
        );
    }
    let count: usize = tiers.iter().map(|(_, a)| a.len()).sum();
    let _ = writeln!(out, r#"        <PROPERTY NAME="lastUsedAnnotationId">{count}</PROPERTY>"#);
    let _ = writeln!(out, "    </HEADER>");

    // Time slots in annotation order, two per annotation.
    let _ = writeln!(out, "    <TIME_ORDER>");
    let mut slot = 0;
    for (_, annotations) in tiers {
        for a in annotations.iter() {
            let _ = writeln!(out, r#"        <TIME_SLOT TIME_SLOT_ID="ts{}" TIME_VALUE="{}"/>"#, slot + 1, a.start_ms);
            let _ = writeln!(out, r#"        <TIME_SLOT TIME_SLOT_ID="ts{}" TIME_VALUE="{}"/>"#, slot + 2, a.end_ms);
            slot += 2;
        }
    }
    let _ = writeln!(out, "    </TIME_ORDER>");
    let (mut slot, mut id) = (0, 0);
    for (tier, annotations) in tiers {
        if annotations.is_empty() {
            let _ = writeln!(out, r#"    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="{}"/>"#, escape(tier));
            continue;
        }
        let _ = writeln!(out, r#"    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="{}">"#, escape(tier));
        for a in annotations.iter() {
            id += 1;
            let _ = writeln!(out, "        <ANNOTATION>");
            let _ = writeln!(
                out,
                r#"            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a{id}" TIME_SLOT_REF1="ts{}" TIME_SLOT_REF2="ts{}">"#,
                slot + 1,
                slot + 2
            );
            let _ = writeln!(out, "                <ANNOTATION_VALUE>{}</ANNOTATION_VALUE>", escape(&a.value));
            let _ = writeln!(out, "            </ALIGNABLE_ANNOTATION>");
            let _ = writeln!(out, "        </ANNOTATION>");
            slot += 2;
        }
        let _ = writeln!(out, "    </TIER>");
    }
    let _ = writeln!(
        out,
        r#"    <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>"#
    );
    let _ = writeln!(
        out,
        r#"    <CONSTRAINT DESCRIPTION="Time subdivision of parent annotation's time interval, no time gaps allowed within this interval" STEREOTYPE="Time_Subdivision"/>"#
    );
    let _ = writeln!(
        out,
        r#"    <CONSTRAINT DESCRIPTION="Symbolic subdivision of a parent annotation. Annotations refering to the same parent are ordered" STEREOTYPE="Symbolic_Subdivision"/>"#
    );
    let _ = writeln!(
        out,
        r#"    <CONSTRAINT DESCRIPTION="1-1 association with a parent annotation" STEREOTYPE="Symbolic_Association"/>"#
    );
    let _ = writeln!(
        out,
        r#"    <CONSTRAINT DESCRIPTION="Time alignable annotations within the parent annotation's time interval, gaps are allowed" STEREOTYPE="Included_In"/>"#
    );
    let _ = writeln!(out, "</ANNOTATION_DOCUMENT>");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use xml::reader::{EventReader, XmlEvent};

    /// (tier id, [(start ms, end ms, value)]) read back with an XML parser.
    pub(crate) fn parse(text: &str) -> Vec<(String, Vec<(u64, u64, String)>)> {
        let mut slots = std::collections::HashMap::new();
        let mut tiers: Vec<(String, Vec<(u64, u64, String)>)> = Vec::new();
        let mut pending: Option<(String, String)> = None;
        let mut in_value = false;
        for event in EventReader::from_str(text) {
            match event.expect("well-formed XML") {
                XmlEvent::StartElement { name, attributes, .. } => {
                    let attr = |key: &str| attributes.iter().find(|a| a.name.local_name == key).map(|a| a.value.clone());
                    match name.local_name.as_str() {
                        "TIME_SLOT" => {
                            slots.insert(attr("TIME_SLOT_ID").unwrap(), attr("TIME_VALUE").unwrap().parse::<u64>().unwrap());
                        }
                        "TIER" => tiers.push((attr("TIER_ID").unwrap(), Vec::new())),
                        "ALIGNABLE_ANNOTATION" => {
                            pending = Some((attr("TIME_SLOT_REF1").unwrap(), attr("TIME_SLOT_REF2").unwrap()))
                        }
                        "ANNOTATION_VALUE" => in_value = true,
                        _ => {}
                    }
                }
                XmlEvent::Characters(value) if in_value => {
                    let (a, b) = pending.take().unwrap();
                    tiers.last_mut().unwrap().1.push((slots[&a], slots[&b], value));
                }
                XmlEvent::EndElement { name } if name.local_name == "ANNOTATION_VALUE" => in_value = false,
                _ => {}
            }
        }
        tiers
    }

    #[test]
    fn document_parses_back_with_tiers_and_millisecond_times() {
        let micro = [
            EafAnnotation { start_ms: 1600, end_ms: 1967, value: "#1 negative, AU 4+9, confidence 0.71".into() },
            EafAnnotation { start_ms: 6833, end_ms: 7100, value: "#3 surprise & <odd> \"label\"".into() },
        ];
        let macro_ = [EafAnnotation { start_ms: 3400, end_ms: 4667, value: "#2 macro, AU R12".into() }];
        let text = eaf_document(
            Some(Path::new("/data/session/video.mp4")),
            Some(Path::new("/data/session/frames.csv")),
            &[(MICRO_TIER, &micro), (MACRO_TIER, &macro_), (NOTES_TIER, &[])],
        );
        assert!(
            text.contains(r#"MEDIA_URL="file:///data/session/video.mp4" MIME_TYPE="video/mp4" RELATIVE_MEDIA_URL="./video.mp4""#)
        );
        assert!(text.contains(r#"RELATIVE_LINK_URL="./frames.csv""#));
        let tiers = parse(&text);
        let names: Vec<&str> = tiers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, [MICRO_TIER, MACRO_TIER, NOTES_TIER]);
        assert_eq!(tiers[0].1, micro.iter().map(|a| (a.start_ms, a.end_ms, a.value.clone())).collect::<Vec<_>>());
        assert_eq!(tiers[1].1, vec![(3400, 4667, "#2 macro, AU R12".to_string())]);
        assert!(tiers[2].1.is_empty());
        assert_eq!(eaf_media(&text, Path::new("/elsewhere")), Some(PathBuf::from("/data/session/video.mp4")));
        let no_media = eaf_document(None, None, &[(MICRO_TIER, &micro)]);
        assert_eq!(eaf_media(&no_media, Path::new("/elsewhere")), None);
        assert_eq!(eaf_media("not xml <", Path::new("/elsewhere")), None);
    }

    #[test]
    fn spans_last_at_least_a_millisecond_and_labels_name_the_event() {
        let a = EafAnnotation::spanning(1600.4, 1966.6, "x".into());
        assert_eq!((a.start_ms, a.end_ms), (1600, 1967));
        let point = EafAnnotation::spanning(500.0, 500.0, "x".into());
        assert_eq!((point.start_ms, point.end_ms), (500, 501));
        assert_eq!(annotation_label(3, "negative", "4+9", Some(0.714)), "#3 negative, AU 4+9, confidence 0.71");
        assert_eq!(annotation_label(9, "positive", "", None), "#9 positive, AU ?");
    }

    #[test]
    fn the_writer_keeps_a_complete_document_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SESSION_EAF);
        let _writer = EafWriter::create(&path, None, None).unwrap();
        let tiers = parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(tiers.len(), 3, "an empty session still has its three tiers");
        assert!(!dir.path().join("session.eaf.partial").exists());
    }
}
