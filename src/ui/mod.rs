//! The live window (eframe/egui): the video with its overlays, the side panel (probabilities,
//! timelines, events), the inspector, the status bar and the controls.
//!
//! The pipeline runs on its own threads ([`runner`]); the UI thread only drains its results
//! each repaint. The state and its rules ([`state`], [`history`]) are separate from drawing
//! ([`app`], [`overlays`], [`plots`], [`inspector`], [`status`]) and tested without a window.
//! [`review`] is review mode: a session folder played back with its overlays and events, in the
//! live window or alone (`glimpse review DIR`).

pub mod app;
pub mod history;
pub mod image;
pub mod inspector;
pub mod overlays;
pub mod plots;
pub mod review;
pub mod runner;
pub mod state;
pub mod status;

pub use app::GlimpseApp;

use eframe::egui;

use std::path::PathBuf;

use crate::capture::SourceSpec;
use crate::spotting::SpotterConfig;
use crate::synth::SynthSpec;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("cannot open the window: {0} (no display? `glimpse live --headless` runs without one)")]
    Window(String),
}

/// How the window starts.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    pub source: SourceSpec,
    /// Shown at the top until dismissed (e.g. why the synthetic face is showing).
    pub notice: Option<String>,
    /// Parameters of the synthetic source.
    pub synth: SynthSpec,
    /// Close the window by itself after this many seconds (demos, tests).
    pub quit_after: Option<f64>,
    /// Start recording frames.csv into this folder at once.
    pub record_to: Option<PathBuf>,
    pub fullscreen: bool,
    /// Open the inspector on each new event as it arrives (demos).
    pub follow_events: bool,
    /// The spotter's settings (its threshold sets the sensitivity slider).
    pub spotting: SpotterConfig,
    /// The MER model to recognise events with (`None`: events get no emotion).
    pub mer_model: Option<PathBuf>,
}

/// Puts `image` in the texture of `slot` (made on first use, updated after).
pub(crate) fn set_texture(ctx: &egui::Context, slot: &mut Option<egui::TextureHandle>, name: &str, image: egui::ColorImage) {
    match slot {
        Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
        None => *slot = Some(ctx.load_texture(name, image, egui::TextureOptions::LINEAR)),
    }
}

/// Whether a window can be opened at all (an X11 or Wayland display is set).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Opens the window and runs until it is closed.
pub fn run(options: WindowOptions) -> Result<(), UiError> {
    let viewport = egui::ViewportBuilder::default()
        .with_title("glimpse")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([800.0, 500.0])
        .with_fullscreen(options.fullscreen);
    let native = eframe::NativeOptions { viewport, ..Default::default() };
    eframe::run_native("glimpse", native, Box::new(move |_cc| Ok(Box::new(GlimpseApp::new(options)))))
        .map_err(|error| UiError::Window(error.to_string()))
}
