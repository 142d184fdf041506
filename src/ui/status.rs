//! The status bar: capture and analysis rates, capture-to-screen latency, drops, the models in
//! use, the recording light and the warnings.

use eframe::egui;
use egui::{Color32, RichText};

use super::state::Warning;

/// What the status bar shows, gathered once per repaint.
#[derive(Debug, Clone, Default)]
pub struct StatusLine {
    pub source: String,
    pub capture_fps: f64,
    pub analysis_fps: f64,
    pub ui_fps: f64,
    pub ui_cpu_ms: f32,
    pub latency_p50_ms: Option<f32>,
    pub latency_p95_ms: Option<f32>,
    pub dropped: u64,
    pub models: String,
    pub recording: Option<(String, u64)>,
    pub warnings: Vec<Warning>,
    pub state: String,
}

fn ms(value: Option<f32>) -> String {
    value.map_or("—".into(), |v| format!("{v:.0}"))
}

pub fn show(ui: &mut egui::Ui, status: &StatusLine) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(&status.state).strong());
        ui.separator();
        ui.label(&status.source);
        ui.separator();
        ui.label(format!("capture {:.1} fps", status.capture_fps));
        ui.label(format!("analysis {:.1} fps", status.analysis_fps));
        ui.label(format!("UI {:.0} fps", status.ui_fps))
            .on_hover_text(format!("CPU per repaint (app and tessellation): {:.1} ms", status.ui_cpu_ms));
        ui.separator();
        ui.label(format!("latency p50 {} ms  p95 {} ms", ms(status.latency_p50_ms), ms(status.latency_p95_ms)))
            .on_hover_text("capture to screen: from the frame's arrival to its texture on screen");
        ui.label(format!("dropped {}", status.dropped));
        ui.separator();
        ui.label(RichText::new(&status.models).weak());
        if let Some((dir, rows)) = &status.recording {
            ui.separator();
            let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.5, Color32::RED);
            ui.label(RichText::new("REC").color(Color32::RED).strong());
            ui.label(format!("{rows} rows → {dir}"));
        }
        for warning in &status.warnings {
            ui.separator();
            ui.label(RichText::new(warning.text()).color(Color32::from_rgb(255, 170, 0)).strong());
        }
    });
}
