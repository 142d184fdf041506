//! Review mode in the window: the session's video with the overlays redrawn from `frames.csv`,
//! the timeline of its events, and the controls to confirm, reject, relabel, note and add
//! events, then save. The model and its rules are [`crate::review`]; this draws and routes input.
//!
//! [`ReviewView`] is the whole review screen; `glimpse review DIR` shows it alone
//! ([`ReviewApp`]) and the live window shows it in place of the live view.

pub mod timeline;

use std::time::{Duration, Instant};

use eframe::egui;
use egui::{Color32, Key, RichText, TextureHandle, ViewportCommand};

use crate::face::{Aligner, FaceTrack};
use crate::motion::RegionMasks;
use crate::review::{FrameRow, Media, REVIEW_LABELS, ReviewError, ReviewSession, ReviewVideo, VideoPlayer};
use crate::session::{EventRecord, EventStatus, RowType};
use crate::spotting::EventKind;
use crate::ui::history::{Interval, Sample, Timeline};
use crate::ui::image::to_colour_image;
use crate::ui::inspector::{self, EventView, InspectorTextures};
use crate::ui::overlays::{self, FrameToScreen};
use crate::ui::plots;
use crate::ui::state::{Overlay, Overlays, Sensitivity, region_light_threshold};
use crate::ui::{UiError, set_texture};

use timeline::{TimelineInput, event_colour};

/// Seconds of score and probabilities the side panel plots, up to the playhead.
const PLOT_SECONDS: f64 = 10.0;
/// Frame size assumed when neither the video nor `session.json` gives one.
const FALLBACK_FRAME_SIZE: (i32, i32) = (640, 480);
/// The overlays review can redraw from `frames.csv` (the flow itself is not saved per frame).
const REVIEW_OVERLAYS: [Overlay; 4] = [Overlay::FaceBox, Overlay::Landmarks, Overlay::Regions, Overlay::Flash];

/// What the user is leaving when there are unsaved edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// Review mode, back to the live view.
    Review,
    /// The window.
    Window,
}

pub struct ReviewView {
    session: ReviewSession,
    /// Inside the live window: offers the way back to it.
    embedded: bool,
    playback: crate::review::Playback,
    player: Option<VideoPlayer>,
    media_notice: String,
    frame_size: (i32, i32),
    video: Option<TextureHandle>,
    /// The row whose frame is on screen (the overlays are drawn for it).
    shown_row: usize,
    requested_row: Option<usize>,
    overlays: Overlays,
    masks: RegionMasks,
    aligner: Aligner,
    region_texture: Option<TextureHandle>,
    region_row: Option<usize>,
    selected: Option<u64>,
    inspected: Option<EventView>,
    inspector: InspectorTextures,
    /// The selected row's note as it is being edited.
    note_edit: String,
    mark_in: Option<f64>,
    mark_out: Option<f64>,
    manual_label: Option<&'static str>,
    note_draft: String,
    /// The last outcome to tell (saved, an edit refused); `true` for an error.
    message: Option<(String, bool)>,
    /// The unsaved-edits prompt is open for this.
    leaving: Option<Leave>,
    /// The user chose to close the window (saved or discarded).
    close_approved: bool,
    last_tick: Option<Instant>,
}

impl ReviewView {
    pub fn new(session: ReviewSession, embedded: bool) -> Self {
        let (player, media_notice) = match session.media() {
            Media::Video(path) => {
                let timestamps = session.frames().timestamps().into();
                match ReviewVideo::open(path, timestamps) {
                    Ok(video) => (Some(VideoPlayer::start(video)), format!("video: {}", path.display())),
                    Err(error) => (None, format!("{error}; the overlays are drawn on a blank canvas")),
                }
            }
            Media::Blank { looked_for } => {
                (None, format!("no video found (looked for {looked_for}): the overlays are drawn on a blank canvas"))
            }
        };
        let frame_size = player.as_ref().map(VideoPlayer::size).or(session.frame_size()).unwrap_or(FALLBACK_FRAME_SIZE);
        let (start, end) = session.frames().span();
        let overlays = Overlays { flow_arrows: false, flow_colour: false, ..Overlays::default() };
        let aligner = Aligner::new(128).aligned_by(session.align_by());
        Self {
            embedded,
            playback: crate::review::Playback::new(start, end),
            player,
            media_notice,
            frame_size,
            video: None,
            shown_row: 0,
            requested_row: None,
            overlays,
            masks: RegionMasks::new(128),
            aligner,
            region_texture: None,
            region_row: None,
            selected: None,
            inspected: None,
            inspector: InspectorTextures::default(),
            note_edit: String::new(),
            mark_in: None,
            mark_out: None,
            manual_label: None,
            note_draft: String::new(),
            message: None,
            leaving: None,
            close_approved: false,
            last_tick: None,
            session,
        }
    }

    pub fn session(&self) -> &ReviewSession {
        &self.session
    }

    fn tell(&mut self, outcome: Result<String, ReviewError>) {
        self.message = Some(match outcome {
            Ok(text) => (text, false),
            Err(error) => (error.to_string(), true),
        });
    }

    pub fn save(&mut self) -> Result<(), ReviewError> {
        let saved = self.session.save();
        let text = format!("saved {} and session.eaf", self.session.dir().join(crate::session::EVENTS_CSV).display());
        match &saved {
            Ok(()) => self.tell(Ok(text)),
            Err(error) => self.message = Some((format!("not saved: {error}"), true)),
        }
        saved
    }

    /// For closing without anyone to ask (`--quit-after`): saves what is unsaved and lets the
    /// window close.
    pub fn save_and_approve_close(&mut self) {
        if self.session.has_unsaved_edits()
            && let Err(error) = self.save()
        {
            eprintln!("error: the review edits could not be saved: {error}");
        }
        self.close_approved = true;
    }

    /// Holds a window close back while there are unsaved edits, and asks what to do.
    pub fn hold_close(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested()) && self.session.has_unsaved_edits() && !self.close_approved {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            self.leaving = Some(Leave::Window);
        }
    }

    /// The playhead, the video frame and the keys: no drawing here.
    pub fn update(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        if let Some(last) = self.last_tick {
            self.playback.advance(now.duration_since(last).as_secs_f64());
        }
        self.last_tick = Some(now);
        let row = self.session.frames().row_at(self.playback.position());
        match &self.player {
            Some(player) => {
                if self.requested_row != Some(row) {
                    player.request(row);
                    self.requested_row = Some(row);
                }
                if let Some(decoded) = player.take() {
                    match decoded
                        .image
                        .map_err(|e| e.to_string())
                        .and_then(|image| to_colour_image(&image).map_err(|e| e.to_string()))
                    {
                        Ok(colour) => {
                            set_texture(ctx, &mut self.video, "review-video", colour);
                            self.shown_row = decoded.row;
                        }
                        Err(error) => self.message = Some((error, true)),
                    }
                }
            }
            None => self.shown_row = row,
        }
        if self.leaving.is_none() && !ctx.egui_wants_keyboard_input() {
            self.handle_keys(ctx);
        }
        if self.playback.is_playing() || self.requested_row.is_some_and(|r| r != self.shown_row) {
            ctx.request_repaint_after(Duration::from_millis(10));
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let pressed = |key| ctx.input(|i| i.key_pressed(key));
        if pressed(Key::Space) {
            self.playback.toggle();
        }
        if pressed(Key::ArrowLeft) {
            self.step_frame(-1);
        }
        if pressed(Key::ArrowRight) {
            self.step_frame(1);
        }
        if pressed(Key::ArrowUp) {
            self.previous_event();
        }
        if pressed(Key::ArrowDown) {
            self.next_event();
        }
        if pressed(Key::I) {
            self.mark_in = Some(self.playback.position());
        }
        if pressed(Key::O) {
            self.mark_out = Some(self.playback.position());
        }
        if let Some(id) = self.selected {
            if pressed(Key::C) {
                let done = self.session.confirm(id).map(|()| format!("#{id} confirmed"));
                self.after_edit(done);
            }
            if pressed(Key::X) {
                self.reject_selected(id);
            }
        }
        if ctx.input(|i| i.modifiers.command && i.key_pressed(Key::S)) {
            let _ = self.save();
        }
        if pressed(Key::Escape) {
            self.select(None, false);
        }
    }

    fn step_frame(&mut self, delta: i64) {
        self.playback.pause();
        let frames = self.session.frames();
        let row = frames.row_at(self.playback.position()) as i64 + delta;
        let row = row.clamp(0, frames.len() as i64 - 1) as usize;
        let seconds = frames.rows()[row].seconds;
        self.playback.seek(seconds);
    }

    fn next_event(&mut self) {
        if let Some(id) = self.session.next_event(self.playback.position()).map(|e| e.id) {
            self.select(Some(id), true);
        }
    }

    fn previous_event(&mut self) {
        if let Some(id) = self.session.previous_event(self.playback.position()).map(|e| e.id) {
            self.select(Some(id), true);
        }
    }

    /// Selects a row (its inspector opens); `seek` moves the playhead to its onset.
    fn select(&mut self, id: Option<u64>, seek: bool) {
        self.selected = id;
        let record = id.and_then(|id| self.session.record(id)).cloned();
        self.note_edit = record.as_ref().map(|r| r.note.clone()).unwrap_or_default();
        if seek && let Some(record) = &record {
            self.playback.pause();
            self.playback.seek(record.onset_ms / 1000.0);
        }
        self.refresh_inspected();
    }

    fn refresh_inspected(&mut self) {
        self.inspected = self
            .selected
            .and_then(|id| self.session.record(id))
            .filter(|r| r.kind().is_some())
            .map(|record| EventView::from_record(record, self.session.pictures_dir(record.id).as_deref()));
    }

    fn after_edit(&mut self, outcome: Result<String, ReviewError>) {
        self.tell(outcome);
        if self.selected.is_some_and(|id| self.session.record(id).is_none()) {
            self.select(None, false);
        }
        self.refresh_inspected();
    }

    fn reject_selected(&mut self, id: u64) {
        let manual = self.session.record(id).is_some_and(|r| r.status == EventStatus::Manual);
        let done = self.session.reject(id).map(|()| if manual { format!("#{id} deleted") } else { format!("#{id} rejected") });
        self.after_edit(done);
    }

    /// The whole review screen for one repaint; says when the user leaves (after the prompt
    /// when there were unsaved edits).
    pub fn draw(&mut self, ui: &mut egui::Ui) -> Option<Leave> {
        let ctx = ui.ctx().clone();
        let mut leave = None;
        egui::Panel::top("review-controls").show(ui, |ui| {
            ui.add_space(2.0);
            leave = self.controls(ui);
            ui.add_space(2.0);
        });
        egui::Panel::bottom("review-timeline").exact_size(96.0).show(ui, |ui| {
            let marks = (self.mark_in, self.mark_out);
            match timeline::show(ui, &self.session, self.playback.position(), marks, self.selected) {
                Some(TimelineInput::Seek(seconds)) => {
                    self.playback.pause();
                    self.playback.seek(seconds);
                }
                Some(TimelineInput::Select(id)) => self.select(Some(id), true),
                None => {}
            }
        });
        egui::Panel::right("review-side").resizable(true).default_size(380.0).min_size(300.0).show(ui, |ui| self.side_panel(ui));
        egui::CentralPanel::no_frame().show(ui, |ui| self.video_view(ui));
        if let Some(event) = &self.inspected
            && !inspector::show(&ctx, event, &mut self.inspector)
        {
            self.select(None, false);
        }
        // Leaving with unsaved edits asks first.
        if let Some(wanted) = leave
            && self.session.has_unsaved_edits()
        {
            self.leaving = Some(wanted);
            leave = None;
        }
        if let Some(asked) = self.leaving {
            leave = self.unsaved_prompt(&ctx, asked).or(leave);
        }
        leave
    }

    fn unsaved_prompt(&mut self, ctx: &egui::Context, asked: Leave) -> Option<Leave> {
        let mut outcome = None;
        egui::Modal::new(egui::Id::unique("review-unsaved")).show(ctx, |ui| {
            ui.heading("Unsaved review edits");
            ui.label(format!("{} has edits that are not saved yet.", self.session.dir().display()));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    outcome = Some(self.save().is_ok());
                }
                if ui.button("Discard").clicked() {
                    outcome = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    outcome = Some(false);
                }
            });
        });
        match outcome {
            Some(true) => {
                self.leaving = None;
                self.close_approved = true;
                Some(asked)
            }
            Some(false) => {
                self.leaving = None;
                None
            }
            None => None,
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) -> Option<Leave> {
        let mut leave = None;
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(" REVIEW ").strong().color(Color32::BLACK).background_color(Color32::from_rgb(120, 190, 255)));
            ui.label(RichText::new(self.session.dir().display().to_string()).strong());
            ui.separator();
            if ui.button("« event").on_hover_text("previous event (Up)").clicked() {
                self.previous_event();
            }
            if ui.button("‹ frame").on_hover_text("previous frame (Left)").clicked() {
                self.step_frame(-1);
            }
            if ui.button(if self.playback.is_playing() { "Pause" } else { "Play" }).on_hover_text("Space").clicked() {
                self.playback.toggle();
            }
            if ui.button("frame ›").on_hover_text("next frame (Right)").clicked() {
                self.step_frame(1);
            }
            if ui.button("event »").on_hover_text("next event (Down)").clicked() {
                self.next_event();
            }
            let frames = self.session.frames();
            let row = &frames.rows()[self.shown_row.min(frames.len() - 1)];
            let (_, end) = frames.span();
            ui.label(
                RichText::new(format!("{:.3} / {end:.3} s   frame {} of {}", self.playback.position(), row.frame, frames.len()))
                    .monospace(),
            );
            ui.separator();
            let unsaved = self.session.has_unsaved_edits();
            if ui
                .add_enabled(unsaved, egui::Button::new("Save"))
                .on_hover_text("Ctrl+S: rewrites events.csv and session.eaf")
                .clicked()
            {
                let _ = self.save();
            }
            if unsaved {
                ui.label(RichText::new("unsaved edits").color(Color32::from_rgb(255, 170, 0)));
            }
            ui.separator();
            let (text, hint, target) = if self.embedded {
                ("Back to live", "leave review for the live view", Leave::Review)
            } else {
                ("Close", "close the window", Leave::Window)
            };
            if ui.button(text).on_hover_text(hint).clicked() {
                leave = Some(target);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let position = self.playback.position();
            if ui.button("Mark in").on_hover_text("I: a manual event starts at the frame shown").clicked() {
                self.mark_in = Some(position);
            }
            if ui.button("Mark out").on_hover_text("O: and ends at the frame shown").clicked() {
                self.mark_out = Some(position);
            }
            let span = match (self.mark_in, self.mark_out) {
                (Some(a), Some(b)) => format!("{a:.3} – {b:.3} s ({:.0} ms)", (b - a) * 1000.0),
                (Some(a), None) => format!("{a:.3} s – ?"),
                (None, Some(b)) => format!("? – {b:.3} s"),
                (None, None) => "no marks".to_owned(),
            };
            ui.label(RichText::new(span).monospace());
            egui::ComboBox::from_id_salt("manual-label")
                .selected_text(self.manual_label.unwrap_or("no label"))
                .width(90.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.manual_label, None, "no label");
                    for label in REVIEW_LABELS {
                        ui.selectable_value(&mut self.manual_label, Some(label), label);
                    }
                });
            let marked = self.mark_in.zip(self.mark_out);
            for kind in [EventKind::Micro, EventKind::Macro] {
                if ui.add_enabled(marked.is_some(), egui::Button::new(format!("Add {kind}"))).clicked()
                    && let Some((start, end)) = marked
                {
                    let added = self.session.add_event(kind, start, end, self.manual_label);
                    if let Ok(id) = added {
                        self.mark_in = None;
                        self.mark_out = None;
                        self.select(Some(id), false);
                    }
                    self.after_edit(added.map(|id| format!("added {kind} event #{id}")));
                }
            }
            if ui.add_enabled(self.mark_in.is_some() || self.mark_out.is_some(), egui::Button::new("Clear marks")).clicked() {
                self.mark_in = None;
                self.mark_out = None;
            }
            ui.separator();
            ui.add(egui::TextEdit::singleline(&mut self.note_draft).hint_text("a note at this time").desired_width(180.0));
            if ui.add_enabled(!self.note_draft.trim().is_empty(), egui::Button::new("Add note")).clicked() {
                let added = self.session.add_note(position, &self.note_draft);
                if added.is_ok() {
                    self.note_draft.clear();
                }
                self.after_edit(added.map(|id| format!("added note #{id} at {position:.3} s")));
            }
            ui.separator();
            for overlay in REVIEW_OVERLAYS {
                ui.checkbox(self.overlays.get_mut(overlay), overlay.label());
            }
        });
        ui.horizontal_wrapped(|ui| {
            let colour = if self.player.is_some() { Color32::GRAY } else { Color32::from_rgb(255, 170, 0) };
            ui.label(RichText::new(&self.media_notice).color(colour));
            if let Some((text, error)) = &self.message {
                ui.separator();
                ui.label(RichText::new(text).color(if *error {
                    Color32::from_rgb(255, 120, 90)
                } else {
                    Color32::from_rgb(120, 220, 140)
                }));
            }
        });
        leave
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        self.selected_editor(ui);
        ui.separator();
        let frames = self.session.frames();
        let row = &frames.rows()[self.shown_row.min(frames.len() - 1)];
        ui.heading("At this frame");
        inspector::probability_bars(ui, row.probabilities);
        let history = self.history(row.seconds);
        ui.label(RichText::new("spotting score (robust SD) and threshold, last 10 s").small());
        plots::motion_plot(ui, &history, 120.0);
        ui.label(RichText::new("class probabilities").small());
        plots::probability_plot(ui, &history, 90.0);
        ui.separator();
        ui.heading("Events and notes");
        let mut clicked = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            let mut rows: Vec<&EventRecord> = self.session.records().iter().collect();
            rows.sort_by(|a, b| a.onset_ms.total_cmp(&b.onset_ms));
            for record in rows {
                let mut text = RichText::new(list_line(record)).color(event_colour(record.kind(), record.status));
                if record.status == EventStatus::Rejected {
                    text = text.strikethrough();
                }
                if ui.selectable_label(self.selected == Some(record.id), text).clicked() {
                    clicked = Some(record.id);
                }
            }
        });
        if let Some(id) = clicked {
            self.select(Some(id), true);
        }
    }

    /// The side panel's plots as the live window drew them when this frame was new.
    fn history(&self, now: f64) -> Timeline {
        let frames = self.session.frames();
        let mut history = Timeline::new(PLOT_SECONDS);
        let first = frames.row_at(now - PLOT_SECONDS);
        let mut probabilities = None;
        for row in &frames.rows()[first..=frames.row_at(now)] {
            probabilities = row.probabilities.or(probabilities);
            history.push(Sample {
                t: row.seconds,
                motion: row.spot_score,
                threshold: row.spot_threshold.unwrap_or(0.0),
                probabilities,
            });
        }
        for record in self.session.events_in_time_order() {
            if record.status != EventStatus::Rejected && record.onset_ms / 1000.0 <= now {
                let micro = record.kind() == Some(EventKind::Micro);
                history.push_interval(Interval { start: record.onset_ms / 1000.0, end: record.offset_ms / 1000.0, micro });
            }
        }
        history
    }

    fn selected_editor(&mut self, ui: &mut egui::Ui) {
        let Some(record) = self.selected.and_then(|id| self.session.record(id)).cloned() else {
            ui.heading("No event selected");
            ui.label(RichText::new("Click one on the timeline or in the list; Up/Down go to the previous/next one.").weak());
            return;
        };
        let id = record.id;
        let title = match record.kind() {
            Some(kind) => format!("Event #{id}: {kind}, {}", record.status),
            None => format!("Note #{id}"),
        };
        ui.heading(RichText::new(title).color(event_colour(record.kind(), record.status)));
        ui.label(format!(
            "{:.3} – {:.3} s (frames {} – {}), {:.0} ms",
            record.onset_ms / 1000.0,
            record.offset_ms / 1000.0,
            record.onset_frame,
            record.offset_frame,
            record.duration_ms
        ));
        if record.row_type == RowType::Event(EventKind::Micro) || record.row_type == RowType::Event(EventKind::Macro) {
            ui.label(match (&record.label, &record.emotion) {
                (Some(label), Some(model)) => format!("emotion: {label} (the model said {model})"),
                (Some(label), None) => format!("emotion: {label} (the reviewer's)"),
                (None, Some(model)) => format!("emotion: {model} (the model's)"),
                (None, None) => "emotion: none given".to_owned(),
            });
            ui.horizontal(|ui| {
                if ui.button("Confirm").on_hover_text("C").clicked() {
                    let done = self.session.confirm(id).map(|()| format!("#{id} confirmed"));
                    self.after_edit(done);
                }
                let manual = record.status == EventStatus::Manual;
                let (text, hint) =
                    if manual { ("Delete", "X: remove this event added by hand") } else { ("Reject", "X: not an event") };
                if ui.button(text).on_hover_text(hint).clicked() {
                    self.reject_selected(id);
                }
                let mut label = record.label.clone().or(record.emotion.clone());
                let before = label.clone();
                egui::ComboBox::from_id_salt("relabel")
                    .selected_text(label.clone().unwrap_or_else(|| "label…".into()))
                    .width(90.0)
                    .show_ui(ui, |ui| {
                        for choice in REVIEW_LABELS {
                            ui.selectable_value(&mut label, Some(choice.to_owned()), choice);
                        }
                    });
                if label != before {
                    let done = self.session.relabel(id, label.as_deref()).map(|()| format!("#{id} relabelled"));
                    self.after_edit(done);
                }
            });
        } else if ui.button("Delete").on_hover_text("remove this note").clicked() {
            let done = self.session.remove(id).map(|()| format!("note #{id} deleted"));
            self.after_edit(done);
            return;
        }
        ui.label("note");
        if ui.add(egui::TextEdit::multiline(&mut self.note_edit).desired_rows(2).desired_width(f32::INFINITY)).changed() {
            let done = self.session.set_note(id, &self.note_edit);
            if let Err(error) = done {
                self.tell(Err(error));
            }
        }
    }

    fn video_view(&mut self, ui: &mut egui::Ui) {
        let available = ui.available_rect_before_wrap();
        let painter = ui.painter_at(available);
        painter.rect_filled(available, 0.0, Color32::from_gray(16));
        let (width, height) = self.frame_size;
        let view = FrameToScreen::fit(available, width, height);
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        match (&self.player, &self.video) {
            (Some(_), Some(texture)) => {
                painter.image(texture.id(), view.rect, uv, Color32::WHITE);
            }
            (Some(_), None) => {
                painter.text(
                    view.rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "decoding…",
                    egui::FontId::proportional(20.0),
                    Color32::GRAY,
                );
            }
            (None, _) => {
                painter.rect_filled(view.rect, 0.0, Color32::from_gray(34));
                painter.text(
                    view.rect.center_bottom() - egui::vec2(0.0, 12.0),
                    egui::Align2::CENTER_BOTTOM,
                    format!("no video: overlays on a blank {width}x{height} canvas"),
                    egui::FontId::proportional(16.0),
                    Color32::GRAY,
                );
            }
        }
        let frames = self.session.frames();
        let index = self.shown_row.min(frames.len() - 1);
        let row = frames.rows()[index].clone();
        self.draw_overlays(ui.ctx(), &painter, &view, index, &row);
    }

    fn draw_overlays(
        &mut self,
        ctx: &egui::Context,
        painter: &egui::Painter,
        view: &FrameToScreen,
        index: usize,
        row: &FrameRow,
    ) {
        if let Some(bbox) = row.face_box.filter(|_| row.face_id > 0) {
            if self.overlays.face_box {
                overlays::draw_face_box(painter, view, &bbox, &format!("face {} ({:.0} %)", row.face_id, row.confidence * 100.0));
            }
            if self.overlays.landmarks
                && let Some(landmarks) = &row.landmarks
            {
                overlays::draw_landmarks(painter, view, landmarks);
            }
            if self.overlays.regions
                && row.success
                && let Some(levels) = row.regions
            {
                let threshold = region_light_threshold(Sensitivity::default());
                if self.region_row != Some(index) {
                    set_texture(
                        ctx,
                        &mut self.region_texture,
                        "review-regions",
                        overlays::region_image(&self.masks, &levels, threshold),
                    );
                    self.region_row = Some(index);
                }
                let track = FaceTrack {
                    id: row.face_id,
                    bbox,
                    landmarks: row.landmarks.as_deref().cloned(),
                    confidence: row.confidence,
                    detected: false,
                };
                // As the frame was aligned; files without the alignment columns: as the aligner would.
                let crop_to_frame = row.to_crop.unwrap_or_else(|| self.aligner.transform(&track)).inverse();
                if let Some(texture) = &self.region_texture {
                    overlays::draw_crop_texture(painter, view, texture.id(), &crop_to_frame, self.masks.size() as f32);
                }
                let moving = overlays::moving_regions(&levels, threshold);
                if !moving.is_empty() {
                    let names: Vec<&str> = moving.iter().map(|r| r.name()).collect();
                    let text = format!("moving: {}", names.join(", "));
                    overlays::draw_label(painter, view.rect.left_top() + egui::vec2(8.0, 8.0), &text, overlays::REGION_COLOUR);
                }
            }
        }
        if row.spot_active {
            overlays::draw_label(
                painter,
                view.rect.left_bottom() + egui::vec2(8.0, -36.0),
                "movement under way",
                overlays::FLASH_COLOUR,
            );
        }
        if self.overlays.flash {
            for (k, record) in self.session.events_at(row.seconds).into_iter().enumerate() {
                let kind = record.kind().map_or("note".to_owned(), |k| k.to_string());
                let what = record.emotion_shown().map_or(String::new(), |e| format!(": {e}"));
                let text = format!("#{} {kind}-expression{what} ({})", record.id, record.status);
                if record.status == EventStatus::Rejected {
                    overlays::draw_label(
                        painter,
                        view.rect.center_top() + egui::vec2(-80.0, 16.0 + 30.0 * k as f32),
                        &text,
                        Color32::GRAY,
                    );
                } else {
                    overlays::draw_flash(painter, view.rect, &text, 0.85);
                }
            }
        }
    }
}

/// The line of a row in the side panel's list.
fn list_line(record: &EventRecord) -> String {
    let at = record.onset_ms / 1000.0;
    match record.kind() {
        Some(kind) => {
            let emotion = record.emotion_shown().map_or(String::new(), |e| format!("  {e}"));
            format!("#{} {kind} {at:.2} s  {:.0} ms{emotion}  [{}]", record.id, record.duration_ms, record.status)
        }
        None => format!("#{} note {at:.2} s  {}", record.id, record.note),
    }
}

/// `glimpse review DIR`: the review screen alone in its window.
pub struct ReviewApp {
    view: ReviewView,
    started: Instant,
    quit_after: Option<f64>,
    closing: bool,
}

impl ReviewApp {
    pub fn new(session: ReviewSession, quit_after: Option<f64>) -> Self {
        Self { view: ReviewView::new(session, false), started: Instant::now(), quit_after, closing: false }
    }
}

impl eframe::App for ReviewApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(limit) = self.quit_after
            && self.started.elapsed().as_secs_f64() >= limit
            && !self.closing
        {
            self.closing = true;
            self.view.save_and_approve_close();
            ctx.send_viewport_cmd(ViewportCommand::Close);
        }
        self.view.hold_close(ctx);
        self.view.update(ctx);
        if self.quit_after.is_some() {
            // Keep repainting so that the clock is checked while the window is idle.
            ctx.request_repaint_after(Duration::from_millis(200));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if self.view.draw(ui).is_some() {
            ui.ctx().send_viewport_cmd(ViewportCommand::Close);
        }
    }
}

/// Reviews a loaded session in a window of its own until it is closed; `quit_after` closes it
/// after that many seconds (saving unsaved edits).
pub fn run(session: ReviewSession, quit_after: Option<f64>) -> Result<(), UiError> {
    let title = format!("glimpse review — {}", session.dir().display());
    let viewport =
        egui::ViewportBuilder::default().with_title(title).with_inner_size([1280.0, 800.0]).with_min_inner_size([800.0, 500.0]);
    let native = eframe::NativeOptions { viewport, ..Default::default() };
    eframe::run_native("glimpse-review", native, Box::new(move |_cc| Ok(Box::new(ReviewApp::new(session, quit_after)))))
        .map_err(|error| UiError::Window(error.to_string()))
}
