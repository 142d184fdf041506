//! The review timeline: the whole session as a strip under the video — the spotting score
//! against its threshold, the events (micro red, macro blue, rejected grey, added by hand
//! outlined), the notes, the in/out marks and the playhead. Click or drag to move the playhead;
//! click an event to select it.

use eframe::egui;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use crate::review::ReviewSession;
use crate::session::{EventStatus, RowType};
use crate::spotting::EventKind;

pub const MICRO_COLOUR: Color32 = Color32::from_rgb(255, 40, 90);
pub const MACRO_COLOUR: Color32 = Color32::from_rgb(110, 120, 255);
pub const REJECTED_COLOUR: Color32 = Color32::from_gray(95);
pub const NOTE_COLOUR: Color32 = Color32::from_rgb(255, 210, 60);
const SCORE_COLOUR: Color32 = Color32::from_rgb(255, 200, 40);
const THRESHOLD_COLOUR: Color32 = Color32::from_rgb(255, 80, 80);

/// The colour of an event row on the timeline and in the list.
pub fn event_colour(kind: Option<EventKind>, status: EventStatus) -> Color32 {
    match (kind, status) {
        (_, EventStatus::Rejected) => REJECTED_COLOUR,
        (Some(EventKind::Micro), _) => MICRO_COLOUR,
        (Some(EventKind::Macro), _) => MACRO_COLOUR,
        (None, _) => NOTE_COLOUR,
    }
}

/// Stream seconds <-> screen x over the strip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub left: f32,
    pub width: f32,
    pub start: f64,
    pub end: f64,
}

impl TimeAxis {
    pub fn x(&self, seconds: f64) -> f32 {
        let span = (self.end - self.start).max(1e-9);
        self.left + ((seconds - self.start) / span) as f32 * self.width
    }

    /// The time under `x`, within the session.
    pub fn time(&self, x: f32) -> f64 {
        let fraction = ((x - self.left) / self.width.max(1.0)).clamp(0.0, 1.0) as f64;
        self.start + fraction * (self.end - self.start)
    }

    /// A tick step (seconds) that puts at most one label per `min_gap` points.
    pub fn tick_step(&self, min_gap: f32) -> f64 {
        let per_point = (self.end - self.start).max(1e-9) / self.width.max(1.0) as f64;
        [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
            .into_iter()
            .find(|step| step / per_point >= min_gap as f64)
            .unwrap_or(3600.0)
    }
}

/// What the user did on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimelineInput {
    Seek(f64),
    Select(u64),
}

/// The span of an event on the strip, at least `min_width` wide so that a 200-ms event in an
/// hour-long session can still be seen and clicked.
pub fn event_rect(axis: &TimeAxis, onset_ms: f64, offset_ms: f64, top: f32, bottom: f32, min_width: f32) -> Rect {
    let (x0, x1) = (axis.x(onset_ms / 1000.0), axis.x(offset_ms / 1000.0));
    let grow = ((min_width - (x1 - x0)) / 2.0).max(0.0);
    Rect::from_min_max(pos2(x0 - grow, top), pos2(x1 + grow, bottom))
}

pub fn show(
    ui: &mut egui::Ui,
    session: &ReviewSession,
    position: f64,
    marks: (Option<f64>, Option<f64>),
    selected: Option<u64>,
) -> Option<TimelineInput> {
    let size = vec2(ui.available_width(), ui.available_height().max(60.0));
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(22));
    let (start, end) = session.frames().span();
    let axis = TimeAxis { left: rect.left() + 8.0, width: rect.width() - 16.0, start, end: end.max(start + 1e-3) };
    let lane = (rect.top() + 4.0, rect.top() + 26.0);
    let plot = (lane.1 + 4.0, rect.bottom() - 16.0);

    // The score against its threshold: the threshold at mid-height, the top at twice it. Rows
    // that fall on the same pixel column keep their peak; rows without a score break the line.
    let y_of = |ratio: f32| plot.1 - (plot.1 - plot.0) * ratio.clamp(0.0, 2.0) / 2.0;
    painter.line_segment(
        [pos2(axis.left, y_of(1.0)), pos2(axis.left + axis.width, y_of(1.0))],
        Stroke::new(1.0, THRESHOLD_COLOUR.gamma_multiply(0.7)),
    );
    let mut segments: Vec<Vec<Pos2>> = vec![Vec::new()];
    for row in session.frames().rows() {
        let ratio = match (row.spot_score, row.spot_threshold.filter(|t| *t > 0.0)) {
            (Some(score), Some(threshold)) => score / threshold,
            _ => {
                if segments.last().is_some_and(|s| !s.is_empty()) {
                    segments.push(Vec::new());
                }
                continue;
            }
        };
        let point = pos2(axis.x(row.seconds).round(), y_of(ratio));
        let Some(segment) = segments.last_mut() else { continue };
        match segment.last_mut() {
            // Higher on screen is a smaller y.
            Some(last) if last.x == point.x => last.y = last.y.min(point.y),
            _ => segment.push(point),
        }
    }
    for segment in segments.into_iter().filter(|s| s.len() > 1) {
        painter.add(egui::Shape::line(segment, Stroke::new(1.2, SCORE_COLOUR)));
    }

    // The in/out marks.
    if let Some(mark_in) = marks.0 {
        let out = marks.1.unwrap_or(position);
        let (a, b) = (axis.x(mark_in.min(out)), axis.x(mark_in.max(out)));
        painter.rect_filled(
            Rect::from_min_max(pos2(a, rect.top()), pos2(b.max(a + 1.0), rect.bottom())),
            0.0,
            Color32::from_white_alpha(28),
        );
        painter.line_segment(
            [pos2(axis.x(mark_in), rect.top()), pos2(axis.x(mark_in), rect.bottom())],
            Stroke::new(1.5, Color32::LIGHT_GREEN),
        );
    }
    if let Some(mark_out) = marks.1 {
        painter.line_segment(
            [pos2(axis.x(mark_out), rect.top()), pos2(axis.x(mark_out), rect.bottom())],
            Stroke::new(1.5, Color32::LIGHT_GREEN),
        );
    }

    // Events and notes in their lane.
    let mut hits: Vec<(Rect, u64)> = Vec::new();
    for record in session.records() {
        let colour = event_colour(record.kind(), record.status);
        let bar = if record.row_type == RowType::Note {
            let x = axis.x(record.onset_ms / 1000.0);
            let triangle = vec![pos2(x - 5.0, lane.0), pos2(x + 5.0, lane.0), pos2(x, lane.0 + 10.0)];
            painter.add(egui::Shape::convex_polygon(triangle, colour, Stroke::NONE));
            Rect::from_center_size(pos2(x, lane.0 + 5.0), vec2(10.0, 10.0))
        } else {
            let bar = event_rect(&axis, record.onset_ms, record.offset_ms, lane.0 + 6.0, lane.1, 4.0);
            painter.rect_filled(bar, 2.0, colour);
            if record.status == EventStatus::Manual {
                painter.rect_stroke(bar, 2.0, Stroke::new(1.0, Color32::WHITE), StrokeKind::Outside);
            }
            bar
        };
        if selected == Some(record.id) {
            painter.rect_stroke(bar.expand(2.0), 3.0, Stroke::new(2.0, Color32::WHITE), StrokeKind::Outside);
        }
        hits.push((bar.expand(2.0), record.id));
    }

    // Time ticks.
    let step = axis.tick_step(70.0);
    let mut tick = (start / step).ceil() * step;
    while tick <= end + 1e-9 {
        let x = axis.x(tick);
        painter.line_segment([pos2(x, rect.bottom() - 14.0), pos2(x, rect.bottom() - 10.0)], Stroke::new(1.0, Color32::GRAY));
        painter.text(
            pos2(x, rect.bottom() - 1.0),
            Align2::CENTER_BOTTOM,
            format!("{tick:.1} s"),
            FontId::proportional(10.0),
            Color32::GRAY,
        );
        tick += step;
    }

    // The playhead.
    let x = axis.x(position);
    painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], Stroke::new(2.0, Color32::WHITE));

    let pointer = response.interact_pointer_pos()?;
    if response.clicked()
        && let Some((_, id)) = hits.iter().find(|(area, _)| area.contains(pointer))
    {
        return Some(TimelineInput::Select(*id));
    }
    (response.clicked() || response.dragged()).then(|| TimelineInput::Seek(axis.time(pointer.x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_x_map_both_ways() {
        let axis = TimeAxis { left: 10.0, width: 1000.0, start: 0.0, end: 20.0 };
        assert_eq!(axis.x(10.0), 510.0);
        assert!((axis.time(510.0) - 10.0).abs() < 1e-9);
        assert_eq!(axis.time(-50.0), 0.0, "clamped to the session");
        assert_eq!(axis.time(5000.0), 20.0);
        assert_eq!(axis.tick_step(70.0), 2.0, "20 s over 1000 points: a label every 2 s");
        let hour = TimeAxis { end: 3600.0, ..axis };
        assert_eq!(hour.tick_step(70.0), 300.0);
    }

    #[test]
    fn short_events_stay_visible() {
        let axis = TimeAxis { left: 0.0, width: 1000.0, start: 0.0, end: 3600.0 };
        let bar = event_rect(&axis, 60_000.0, 60_300.0, 0.0, 10.0, 4.0);
        assert!((bar.width() - 4.0).abs() < 1e-3, "{bar:?}");
        assert!((bar.center().x - axis.x(60.15)).abs() < 1e-3);
        let long = event_rect(&axis, 0.0, 360_000.0, 0.0, 10.0, 4.0);
        assert!((long.width() - 100.0).abs() < 1e-3);
    }

    #[test]
    fn colours_follow_kind_and_status() {
        assert_eq!(event_colour(Some(EventKind::Micro), EventStatus::Confirmed), MICRO_COLOUR);
        assert_eq!(event_colour(Some(EventKind::Macro), EventStatus::Auto), MACRO_COLOUR);
        assert_eq!(event_colour(Some(EventKind::Micro), EventStatus::Rejected), REJECTED_COLOUR);
        assert_eq!(event_colour(None, EventStatus::Manual), NOTE_COLOUR);
    }
}
