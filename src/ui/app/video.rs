//! The video view: the newest frame and its overlays.

use super::*;

impl GlimpseApp {
    pub(super) fn video_view(&mut self, ui: &mut egui::Ui) {
        let available = ui.available_rect_before_wrap();
        let painter = ui.painter_at(available);
        painter.rect_filled(available, 0.0, Color32::from_gray(16));
        let (Some(texture), Some(latest)) = (&self.video, &self.latest) else {
            let text = if self.runner.is_opening() { "opening the source…" } else { "no video" };
            painter.text(available.center(), egui::Align2::CENTER_CENTER, text, egui::FontId::proportional(20.0), Color32::GRAY);
            return;
        };
        let view = FrameToScreen::fit(available, latest.frame_width, latest.frame_height);
        painter.image(
            texture.id(),
            view.rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        if let Some(crop_to_frame) = &latest.crop_to_frame {
            let crop_size = latest.residual.as_ref().map_or(128.0, |f| f.width as f32);
            if self.overlays.flow_colour
                && latest.residual.is_some()
                && let Some(texture) = &self.flow_texture
            {
                overlays::draw_crop_texture(&painter, &view, texture.id(), crop_to_frame, crop_size);
            }
            if self.overlays.regions
                && latest.residual.is_some()
                && let Some(texture) = &self.region_texture
            {
                overlays::draw_crop_texture(&painter, &view, texture.id(), crop_to_frame, crop_size);
            }
            if self.overlays.flow_arrows
                && let Some(field) = &latest.residual
            {
                overlays::draw_flow_arrows(&painter, &view, field, crop_to_frame, self.flow_full_scale, &self.face_weights);
            }
        }
        if let Some(face) = &latest.face {
            if self.overlays.face_box {
                let label = format!("face {} ({:.0} %)", face.id, face.confidence * 100.0);
                overlays::draw_face_box(&painter, &view, &face.bbox, &label);
            }
            if self.overlays.landmarks
                && let Some(landmarks) = &face.landmarks
            {
                overlays::draw_landmarks(&painter, &view, landmarks);
            }
        }
        if self.overlays.flow_colour || self.overlays.flow_arrows {
            overlays::draw_colour_legend(&painter, view.rect.right_bottom() - egui::vec2(26.0, 26.0), 18.0);
        }
        if self.overlays.regions {
            let moving = overlays::moving_regions(&self.region_levels, self.region_threshold());
            if !moving.is_empty() && latest.success {
                let names: Vec<&str> = moving.iter().map(|r| r.name()).collect();
                overlays::draw_label(
                    &painter,
                    view.rect.left_top() + egui::vec2(8.0, 8.0),
                    &format!("moving: {}", names.join(", ")),
                    overlays::REGION_COLOUR,
                );
            }
        }
        if self.overlays.flash
            && let Some(flash) = &self.flash
        {
            overlays::draw_flash(&painter, view.rect, &flash.label, flash.strength(self.seconds_since_start()));
        }
        if let Some(progress) = self.calibration.progress() {
            let hint = if latest.success { "keep a still, neutral face" } else { "waiting for the face" };
            overlays::draw_label(
                &painter,
                view.rect.left_bottom() + egui::vec2(8.0, -36.0),
                &format!("calibrating: {hint} ({:.0} %)", progress * 100.0),
                Color32::WHITE,
            );
        } else if self.spot.active {
            overlays::draw_label(
                &painter,
                view.rect.left_bottom() + egui::vec2(8.0, -36.0),
                &format!("movement under way{}", self.spot.region.map_or(String::new(), |r| format!(" ({})", r.name()))),
                overlays::FLASH_COLOUR,
            );
        }
    }
}
