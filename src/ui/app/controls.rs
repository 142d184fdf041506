//! The top bar (source picker, start/stop, record, fullscreen, sensitivity, flow scale, overlay
//! toggles, calibration) and the side panel (probabilities, timelines, events).

use super::*;

impl GlimpseApp {
    pub(super) fn controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let label = match &self.choice {
                Choice::Camera(index) => self
                    .cameras
                    .iter()
                    .find(|c| c.index == index.to_string())
                    .map_or(format!("camera:{index}"), |c| format!("camera:{index} {}", c.name)),
                Choice::File => "video file".into(),
                Choice::Synthetic => "synthetic demo".into(),
            };
            ui.label("source");
            // The negotiated format of the camera in use (others show theirs once opened).
            let open_camera = match (self.runner.spec(), self.runner.info()) {
                (SourceSpec::Camera(spec), Some(info)) if info.kind == SourceKind::Camera => {
                    Some((spec.index, format!("{}x{} @ {:.0} fps", info.width, info.height, info.nominal_fps)))
                }
                _ => None,
            };
            egui::ComboBox::from_id_salt("source").selected_text(label).width(200.0).show_ui(ui, |ui| {
                for camera in &self.cameras {
                    if let Ok(index) = camera.index.parse::<u32>() {
                        let format = match &open_camera {
                            Some((open, format)) if *open == index => format!(", {format}"),
                            _ => String::new(),
                        };
                        let text = format!("camera:{index} {} ({}{format})", camera.name, camera.description);
                        ui.selectable_value(&mut self.choice, Choice::Camera(index), text);
                    }
                }
                if self.cameras.is_empty() {
                    ui.weak("no camera found");
                }
                ui.selectable_value(&mut self.choice, Choice::File, "video file…");
                ui.selectable_value(&mut self.choice, Choice::Synthetic, "synthetic demo");
            });
            if ui.small_button("rescan").on_hover_text("look for cameras again").clicked() {
                self.cameras = list_cameras().unwrap_or_default();
            }
            if self.choice == Choice::File {
                ui.add(egui::TextEdit::singleline(&mut self.file_path).hint_text("path/to/video.mp4").desired_width(220.0));
            }
            let can_open = self.selected_spec().is_some();
            if ui.add_enabled(can_open, egui::Button::new("Open")).clicked()
                && let Some(spec) = self.selected_spec()
            {
                self.notice = None;
                self.runner.open(spec);
            }
            ui.separator();
            let running = self.runner.is_running() || self.runner.is_opening();
            if ui.button(if running { "Stop" } else { "Start" }).on_hover_text("Space").clicked() {
                self.start_stop();
            }
            ui.separator();
            let recording = self.recorder.is_some();
            let record = egui::Button::new(if recording {
                RichText::new("Stop recording").color(Color32::RED)
            } else {
                RichText::new("Record")
            });
            if ui
                .add(record)
                .on_hover_text("writes frames.csv and events.csv (as `glimpse analyse` does) into the folder")
                .clicked()
            {
                self.toggle_recording();
            }
            ui.add_enabled(!recording, egui::TextEdit::singleline(&mut self.record_dir).desired_width(180.0).hint_text("folder"));
            ui.separator();
            let review = ui
                .add_enabled(!recording, egui::Button::new("Review…"))
                .on_hover_text("play a session folder back with its events, to confirm, reject, relabel and note them")
                .on_disabled_hover_text("stop recording first");
            if review.clicked() {
                self.open_review();
            }
            ui.add_enabled(
                !recording,
                egui::TextEdit::singleline(&mut self.review_dir).desired_width(160.0).hint_text("session folder"),
            );
            ui.separator();
            if ui.button(if self.fullscreen { "Exit fullscreen" } else { "Fullscreen" }).on_hover_text("F11").clicked() {
                let on = !self.fullscreen;
                self.set_fullscreen(ui.ctx(), on);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let mut value = self.sensitivity.value();
            let threshold = self.runner.spotter_threshold();
            if ui
                .add(egui::Slider::new(&mut value, 0.0..=1.0).text("sensitivity").fixed_decimals(2))
                .on_hover_text(format!(
                    "higher: fainter movements count (and more false alarms). Spotting threshold now: {threshold:.1} robust SD ({:.0} at 0.5)",
                    self.default_threshold
                ))
                .changed()
            {
                self.sensitivity = Sensitivity::new(value);
                self.runner.set_spotter_threshold(self.sensitivity.spotter_threshold(self.default_threshold));
            }
            ui.add(
                egui::Slider::new(&mut self.flow_full_scale, 0.1..=3.0)
                    .logarithmic(true)
                    .text("flow scale (px)")
                    .fixed_decimals(2),
            )
            .on_hover_text("flow of this length (crop pixels) shows at full colour");
            ui.separator();
            for overlay in Overlay::ALL {
                let slot = self.overlays.get_mut(overlay);
                let response = ui.checkbox(slot, overlay.label());
                let hint = if overlay == Overlay::Landmarks {
                    format!("key {} — drawn when the landmark model provides points", overlay.key_digit())
                } else {
                    format!("key {}", overlay.key_digit())
                };
                response.on_hover_text(hint);
            }
            ui.separator();
            self.calibration_controls(ui);
        });
    }

    pub(super) fn calibration_controls(&mut self, ui: &mut egui::Ui) {
        if let Some(progress) = self.calibration.progress() {
            ui.add(egui::ProgressBar::new(progress).desired_width(140.0).text("keep a neutral face"));
            if ui.button("Cancel").clicked() {
                self.calibration.cancel();
                self.runner.control(SpotterControl::ClearCalibration);
            }
            return;
        }
        let text = match &self.calibration {
            CalibrationView::Calibrated => "calibrated: noise floor from your neutral face".to_owned(),
            CalibrationView::Failed(message) => format!("calibration failed: {message}"),
            _ => "not calibrated".to_owned(),
        };
        if ui
            .add_enabled(self.runner.is_running(), egui::Button::new("Calibrate"))
            .on_hover_text(format!(
                "keep a still, neutral face for {CALIBRATION_SECONDS:.0} s: its motion sets each region's noise floor"
            ))
            .clicked()
        {
            self.calibration.request(self.seconds_since_start());
            self.runner.control(SpotterControl::Calibrate(CALIBRATION_SECONDS * 1000.0));
        }
        ui.label(RichText::new(text).weak());
    }

    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Now");
        inspector::probability_bars(ui, self.probabilities);
        if self.probabilities.is_none() {
            ui.weak("no recognised expression yet");
        }
        ui.separator();
        ui.label(RichText::new("spotting score (robust SD over each region's recent motion) and threshold").small());
        plots::motion_plot(ui, &self.timeline, 150.0);
        ui.label(RichText::new("class probabilities").small());
        plots::probability_plot(ui, &self.timeline, 110.0);
        ui.separator();
        ui.horizontal(|ui| {
            ui.heading("Events");
            ui.checkbox(&mut self.follow_events, "open each new one")
                .on_hover_text("the inspector follows the newest event (Up/Down step through them, Esc closes)");
        });
        if self.events.is_empty() {
            ui.weak("none spotted yet");
        }
        let mut clicked = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for (id, event) in self.events.iter_newest_first() {
                let selected = self.events.selected_id() == Some(id);
                if ui.selectable_label(selected, event.summary()).clicked() {
                    clicked = Some(id);
                }
            }
        });
        if let Some(id) = clicked {
            self.events.toggle(id);
        }
    }
}
