//! Spotted events as the window shows them, and the inspector of the selected one: onset, apex
//! and offset, the flow and dynamic images, probabilities, AU guess, duration.

use eframe::egui;
use egui::{Color32, RichText, TextureHandle, TextureOptions};

use std::path::Path;

use opencv::imgcodecs;
use opencv::prelude::*;

use crate::recognition::{AnalysedEvent, EVENT_PICTURES, RgbImage};
use crate::session::EventRecord;
use crate::spotting::{EventKind, EventMark};

/// Class names of the MER model's outputs, in order.
pub const CLASSES: [&str; 3] = crate::inference::MER_CLASSES;
pub const CLASS_COLOURS: [Color32; 3] =
    [Color32::from_rgb(220, 70, 70), Color32::from_rgb(80, 190, 90), Color32::from_rgb(90, 140, 255)];

/// One point of an event: frame number (from 1, as in frames.csv) and stream seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventPoint {
    pub frame: u64,
    pub seconds: f64,
}

/// A spotted event, with what the window needs to list and inspect it.
#[derive(Clone)]
pub struct EventView {
    pub id: u64,
    pub micro: bool,
    pub onset: EventPoint,
    pub apex: EventPoint,
    pub offset: EventPoint,
    /// `None` for an event a reviewer added.
    pub confidence: Option<f32>,
    pub aus: String,
    pub emotion: Option<String>,
    pub probabilities: Option<[f32; 3]>,
    /// Named images (onset, apex, offset crops, flow, COF, dynamic images), converted on arrival.
    pub images: Vec<(String, egui::ColorImage)>,
    /// Why the event could not be fully analysed, if it could not.
    pub problem: Option<String>,
}

/// The inspector's caption of each of the spotter's pictures.
fn caption(name: &str) -> &str {
    match name {
        "flow" => "flow onset-apex",
        "cof" => "combined flow (COF)",
        "mm_cof" => "MM-COF",
        "di_onset_apex" => "dynamic image onset-apex",
        "di_apex_offset" => "dynamic image apex-offset",
        other => other,
    }
}

/// The event pictures saved in `dir` (`<stem>.png`), in the inspector's order; a picture that
/// is missing or does not decode is left out.
fn read_pictures(dir: &Path) -> Vec<(String, egui::ColorImage)> {
    EVENT_PICTURES
        .iter()
        .filter_map(|name| {
            let path = dir.join(format!("{name}.png"));
            let image = imgcodecs::imread(path.to_str()?, imgcodecs::IMREAD_COLOR).ok().filter(|m| !m.empty())?;
            let colour = super::image::to_colour_image(&image).ok()?;
            Some((caption(name).to_owned(), colour))
        })
        .collect()
}

pub fn rgb_to_colour_image(image: &RgbImage) -> egui::ColorImage {
    if image.pixels.len() != image.width * image.height * 3 {
        return egui::ColorImage::new([1, 1], vec![Color32::BLACK]);
    }
    egui::ColorImage::from_rgb([image.width, image.height], &image.pixels)
}

impl EventView {
    /// What the window keeps of an analysed event (pictures converted once, here).
    pub fn from_analysed(analysed: &AnalysedEvent) -> Self {
        let event = &analysed.event;
        let point = |mark: &EventMark| EventPoint { frame: mark.frame_number(), seconds: mark.seconds };
        let images = analysed
            .images
            .as_ref()
            .map(|images| {
                images.named().into_iter().map(|(name, image)| (caption(name).to_owned(), rgb_to_colour_image(image))).collect()
            })
            .unwrap_or_default();
        Self {
            id: event.id as u64,
            micro: event.kind == EventKind::Micro,
            onset: point(&event.onset),
            apex: point(&event.apex),
            offset: point(&event.offset),
            confidence: Some(event.confidence),
            aus: analysed.aus.clone(),
            emotion: analysed.recognition.as_ref().map(|r| r.emotion.to_owned()),
            probabilities: analysed.recognition.as_ref().map(|r| r.probabilities),
            images,
            problem: analysed.problem.clone(),
        }
    }
    /// An event read back from `events.csv` (with the reviewer's label, when it has one), with
    /// its pictures from `pictures` (its `events/<id>/` folder), as far as they read.
    pub fn from_record(record: &EventRecord, pictures: Option<&Path>) -> Self {
        let point = |frame: u64, ms: f64| EventPoint { frame, seconds: ms / 1000.0 };
        Self {
            id: record.id,
            micro: record.kind() == Some(EventKind::Micro),
            onset: point(record.onset_frame, record.onset_ms),
            apex: point(record.apex_frame, record.apex_ms),
            offset: point(record.offset_frame, record.offset_ms),
            confidence: record.confidence,
            aus: record.aus.clone(),
            emotion: record.emotion_shown().map(str::to_owned),
            probabilities: record.probabilities,
            images: pictures.map(read_pictures).unwrap_or_default(),
            problem: None,
        }
    }

    pub fn duration_ms(&self) -> f64 {
        (self.offset.seconds - self.onset.seconds) * 1000.0
    }

    pub fn kind(&self) -> &'static str {
        if self.micro { "micro" } else { "macro" }
    }

    /// The line in the event list.
    pub fn summary(&self) -> String {
        let emotion = match (&self.emotion, self.probabilities) {
            (Some(emotion), Some(p)) => format!("  {emotion} {:.2}", p.iter().copied().fold(0.0, f32::max)),
            (Some(emotion), None) => format!("  {emotion}"),
            _ => String::new(),
        };
        format!("#{} {} {:.2} s  {:.0} ms{}", self.id, self.kind(), self.apex.seconds, self.duration_ms(), emotion)
    }

    /// The flash over the video.
    pub fn flash_label(&self) -> String {
        match &self.emotion {
            Some(emotion) => format!("{}-expression: {emotion}", self.kind()),
            None => format!("{}-expression", self.kind()),
        }
    }
}

/// The inspector's textures, made once per selected event.
#[derive(Default)]
pub struct InspectorTextures {
    event: Option<u64>,
    textures: Vec<(String, TextureHandle)>,
    /// How many of `textures` belong to the event shown.
    shown: usize,
}

/// Probability bars (negative, positive, surprise).
pub fn probability_bars(ui: &mut egui::Ui, probabilities: Option<[f32; 3]>) {
    for (i, name) in CLASSES.iter().enumerate() {
        let p = probabilities.map(|p| p[i]);
        ui.horizontal(|ui| {
            ui.add_sized([64.0, 16.0], egui::Label::new(*name));
            let width = ui.available_width().max(40.0);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 16.0), egui::Sense::hover());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 3.0, Color32::from_gray(40));
            if let Some(p) = p {
                let filled = egui::Rect::from_min_size(rect.min, egui::vec2(rect.width() * p.clamp(0.0, 1.0), rect.height()));
                painter.rect_filled(filled, 3.0, CLASS_COLOURS[i]);
            }
            let text = p.map_or("—".to_owned(), |p| format!("{p:.2}"));
            painter.text(
                rect.left_center() + egui::vec2(6.0, 0.0),
                egui::Align2::LEFT_CENTER,
                text,
                egui::FontId::proportional(12.0),
                Color32::WHITE,
            );
        });
    }
}

/// The inspector window; returns false when the user closed it.
pub fn show(ctx: &egui::Context, event: &EventView, textures: &mut InspectorTextures) -> bool {
    if textures.event != Some(event.id) {
        // The same textures serve event after event (updated, not freed and made again).
        for (k, (name, image)) in event.images.iter().enumerate() {
            match textures.textures.get_mut(k) {
                Some((slot_name, texture)) => {
                    slot_name.clone_from(name);
                    texture.set(image.clone(), TextureOptions::LINEAR);
                }
                None => textures
                    .textures
                    .push((name.clone(), ctx.load_texture(format!("inspector-{k}"), image.clone(), TextureOptions::LINEAR))),
            }
        }
        textures.shown = event.images.len();
        textures.event = Some(event.id);
    }
    let mut open = true;
    egui::Window::new(format!("Event #{} ({})", event.id, event.kind()))
        .id(egui::Id::unique("glimpse-event-inspector"))
        .open(&mut open)
        .resizable(false)
        .collapsible(true)
        .default_pos(ctx.content_rect().left_bottom() + egui::vec2(12.0, -340.0))
        .show(ctx, |ui| {
            ui.horizontal_top(|ui| {
                egui::Grid::new("event-facts").num_columns(2).striped(true).show(ui, |ui| {
                    for (name, point) in [("onset", event.onset), ("apex", event.apex), ("offset", event.offset)] {
                        ui.label(name);
                        ui.label(format!("frame {}  ({:.3} s)", point.frame, point.seconds));
                        ui.end_row();
                    }
                    ui.label("duration");
                    ui.label(format!("{:.0} ms", event.duration_ms()));
                    ui.end_row();
                    ui.label("confidence");
                    ui.label(event.confidence.map_or_else(|| "— (added by hand)".to_owned(), |c| format!("{c:.2}")));
                    ui.end_row();
                    ui.label("AU guess");
                    ui.label(if event.aus.is_empty() { "—" } else { event.aus.as_str() });
                    ui.end_row();
                });
                ui.add_space(16.0);
                ui.vertical(|ui| {
                    ui.set_width(260.0);
                    let emotion = match (&event.emotion, event.micro) {
                        (Some(emotion), _) => RichText::new(emotion.as_str()).strong().size(18.0),
                        (None, true) => RichText::new("not recognised"),
                        (None, false) => RichText::new("not recognised: the model knows micro-expressions only"),
                    };
                    ui.label(emotion);
                    probability_bars(ui, event.probabilities);
                    if let Some(problem) = &event.problem {
                        ui.label(RichText::new(problem).color(Color32::from_rgb(255, 170, 0)));
                    }
                });
            });
            ui.separator();
            if textures.shown == 0 {
                ui.label("no pictures for this event");
            }
            ui.horizontal(|ui| {
                for (name, texture) in textures.textures.iter().take(textures.shown) {
                    ui.vertical(|ui| {
                        ui.set_width(80.0);
                        let size = texture.size_vec2();
                        let scale = (80.0 / size.x.max(size.y).max(1.0)).max(0.1);
                        ui.image((texture.id(), size * scale));
                        ui.add(egui::Label::new(RichText::new(name.as_str()).small()).wrap());
                    });
                }
            });
        });
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventView {
        EventView {
            id: 7,
            micro: true,
            onset: EventPoint { frame: 31, seconds: 1.0 },
            apex: EventPoint { frame: 36, seconds: 1.166 },
            offset: EventPoint { frame: 43, seconds: 1.4 },
            confidence: Some(0.8),
            aus: "12".into(),
            emotion: Some("positive".into()),
            probabilities: Some([0.1, 0.7, 0.2]),
            images: Vec::new(),
            problem: None,
        }
    }

    #[test]
    fn summary_and_flash() {
        let event = event();
        assert!((event.duration_ms() - 400.0).abs() < 1e-6);
        assert_eq!(event.summary(), "#7 micro 1.17 s  400 ms  positive 0.70");
        assert_eq!(event.flash_label(), "micro-expression: positive");
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;
    use crate::recognition::Recognition;
    use crate::spotting::SpotEvent;

    #[test]
    fn an_analysed_event_becomes_a_view() {
        let mark = |index: u64, seconds: f64| EventMark { index, seconds };
        let event = SpotEvent {
            id: 3,
            kind: EventKind::Micro,
            onset: mark(30, 1.0),
            apex: mark(35, 1.166),
            offset: mark(42, 1.4),
            confidence: 0.6,
            peak_score: 12.0,
            apex_displacement: [[0.0; 2]; 8],
        };
        let analysed = AnalysedEvent {
            event,
            aus: "4".into(),
            recognition: Some(Recognition::from_probabilities([0.7, 0.2, 0.1])),
            images: None,
            problem: None,
            analysis_ms: 3.0,
        };
        let view = EventView::from_analysed(&analysed);
        assert_eq!(view.id, 3);
        assert_eq!(view.onset.frame, 31, "frames.csv numbering");
        assert_eq!(view.emotion.as_deref(), Some("negative"));
        assert_eq!(view.probabilities, Some([0.7, 0.2, 0.1]));
        assert!(view.micro && view.images.is_empty());
        let image = rgb_to_colour_image(&RgbImage { width: 2, height: 1, pixels: vec![255, 0, 0, 0, 0, 255] });
        assert_eq!(image.pixels, vec![Color32::from_rgb(255, 0, 0), Color32::from_rgb(0, 0, 255)]);
    }
}
