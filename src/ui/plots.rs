//! The side panel's timelines (egui_plot): the motion signal with its threshold and the spotted
//! intervals, and the class probabilities.

use eframe::egui;
use egui::Color32;
use egui_plot::{HLine, Legend, Line, Plot, PlotPoints, Span};

use super::history::Timeline;
use super::inspector::{CLASS_COLOURS, CLASSES};

const MOTION_COLOUR: Color32 = Color32::from_rgb(255, 200, 40);
const THRESHOLD_COLOUR: Color32 = Color32::from_rgb(255, 80, 80);

/// The x range shown: the last window of the timeline, ending at its newest sample.
fn x_range(timeline: &Timeline) -> (f64, f64) {
    let end = timeline.latest_time().unwrap_or(0.0).max(timeline.window());
    (end - timeline.window(), end)
}

pub fn motion_plot(ui: &mut egui::Ui, timeline: &Timeline, height: f32) {
    let (x0, x1) = x_range(timeline);
    let mut segments: Vec<Vec<[f64; 2]>> = vec![Vec::new()];
    let mut threshold = Vec::new();
    let mut top = 0.3f64;
    for sample in timeline.samples() {
        match sample.motion {
            Some(value) => {
                if let Some(segment) = segments.last_mut() {
                    segment.push([sample.t, value as f64]);
                }
                top = top.max(value as f64);
            }
            None => {
                if segments.last().is_some_and(|s| !s.is_empty()) {
                    segments.push(Vec::new());
                }
            }
        }
        threshold.push([sample.t, sample.threshold as f64]);
        top = top.max(sample.threshold as f64 * 1.5);
    }
    Plot::new("motion-timeline")
        .height(height)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .include_y(top)
        .include_x(x0)
        .include_x(x1)
        .auto_bounds(false)
        .default_x_bounds(x0, x1)
        .default_y_bounds(0.0, top * 1.05)
        .x_axis_label("s")
        .show(ui, |plot| {
            plot.set_plot_bounds_x(x0..=x1);
            plot.set_plot_bounds_y(0.0..=top * 1.05);
            for interval in timeline.intervals() {
                let colour = if interval.micro {
                    Color32::from_rgba_unmultiplied(255, 40, 90, 60)
                } else {
                    Color32::from_rgba_unmultiplied(120, 120, 255, 50)
                };
                plot.span(Span::new(if interval.micro { "micro" } else { "macro" }, interval.start..=interval.end).fill(colour));
            }
            for segment in segments {
                if segment.len() > 1 {
                    plot.line(Line::new("score", PlotPoints::from(segment)).color(MOTION_COLOUR).width(1.5));
                }
            }
            if threshold.len() > 1 {
                plot.line(Line::new("threshold", PlotPoints::from(threshold)).color(THRESHOLD_COLOUR).width(1.0));
            } else if let Some(last) = timeline.samples().last() {
                plot.hline(HLine::new("threshold", last.threshold as f64).color(THRESHOLD_COLOUR));
            }
        });
}

pub fn probability_plot(ui: &mut egui::Ui, timeline: &Timeline, height: f32) {
    let (x0, x1) = x_range(timeline);
    let mut series: [Vec<[f64; 2]>; 3] = Default::default();
    for sample in timeline.samples() {
        if let Some(p) = sample.probabilities {
            for (k, s) in series.iter_mut().enumerate() {
                s.push([sample.t, p[k] as f64]);
            }
        }
    }
    Plot::new("probability-timeline")
        .height(height)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .auto_bounds(false)
        .default_x_bounds(x0, x1)
        .default_y_bounds(0.0, 1.0)
        .x_axis_label("s")
        .show(ui, |plot| {
            plot.set_plot_bounds_x(x0..=x1);
            plot.set_plot_bounds_y(0.0..=1.05);
            for (k, points) in series.into_iter().enumerate() {
                if points.len() > 1 {
                    plot.line(Line::new(CLASSES[k], PlotPoints::from(points)).color(CLASS_COLOURS[k]).width(1.5));
                }
            }
        });
}
