//! The video view's overlays: face box, landmarks, flow arrows and colour map, lit regions and
//! the spotted-event flash. The flow lives in the canonical crop; it is drawn back onto the face
//! through the inverse of the frame->crop transform, so it follows the head's position, size and
//! roll.

use eframe::egui;
use egui::epaint::{Mesh, Vertex};
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, StrokeKind, TextureId, Vec2, pos2, vec2};

use crate::face::template::{CANONICAL_68, TEMPLATE_SIZE};
use crate::face::{BoxF, Landmarks, Similarity};
use crate::motion::{MotionField, Region, RegionMasks, RegionSignals};

/// Colours of the overlays (distinct from skin and background, so tests can find them).
pub const FACE_BOX_COLOUR: Color32 = Color32::from_rgb(0, 230, 118);
pub const LANDMARK_COLOUR: Color32 = Color32::from_rgb(0, 200, 255);
pub const REGION_COLOUR: Color32 = Color32::from_rgb(255, 140, 0);
pub const FLASH_COLOUR: Color32 = Color32::from_rgb(255, 40, 90);

/// Flow of this length (crop pixels) shows at full colour; micro-expressions move a fraction of
/// a pixel in the 128-px crop over 100 ms, so the scale is small.
pub const DEFAULT_FLOW_FULL_SCALE: f32 = 0.6;
/// Arrow length per crop pixel of flow, in crop pixels.
pub const ARROW_GAIN: f32 = 10.0;
/// Grid step of the arrows, crop pixels.
pub const ARROW_STEP: usize = 8;

/// Frame pixels -> screen points for a frame drawn into `rect`.
#[derive(Debug, Clone, Copy)]
pub struct FrameToScreen {
    pub rect: Rect,
    pub scale: f32,
}

impl FrameToScreen {
    /// Fits a `width` x `height` frame into `available`, keeping its aspect, centred.
    pub fn fit(available: Rect, width: i32, height: i32) -> Self {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let scale = (available.width() / w).min(available.height() / h).max(0.01);
        let rect = Rect::from_center_size(available.center(), vec2(w * scale, h * scale));
        Self { rect, scale }
    }

    pub fn point(&self, [x, y]: [f32; 2]) -> Pos2 {
        self.rect.min + vec2(x, y) * self.scale
    }

    pub fn rect_of(&self, bbox: &BoxF) -> Rect {
        Rect::from_min_size(self.point([bbox.x, bbox.y]), vec2(bbox.width, bbox.height) * self.scale)
    }
}

/// Opaque colours of 360 directions (1 degree apart), made once: the colour map runs over every
/// crop pixel of every displayed frame.
fn hue_wheel() -> &'static [[u8; 3]; 360] {
    static WHEEL: std::sync::OnceLock<[[u8; 3]; 360]> = std::sync::OnceLock::new();
    WHEEL.get_or_init(|| {
        std::array::from_fn(|degree| {
            let colour: Color32 = egui::ecolor::Hsva::new(degree as f32 / 360.0, 1.0, 1.0, 1.0).into();
            [colour.r(), colour.g(), colour.b()]
        })
    })
}

fn wheel_index(u: f32, v: f32) -> usize {
    let degrees = v.atan2(u).to_degrees().rem_euclid(360.0);
    (degrees as usize).min(359)
}

/// Hue from the direction (0 = right, red), opacity from the magnitude; transparent when still.
pub fn flow_colour(u: f32, v: f32, full_scale: f32) -> Color32 {
    let magnitude = u.hypot(v);
    let strength = (magnitude / full_scale.max(1e-6)).clamp(0.0, 1.0);
    if strength <= 0.02 {
        return Color32::TRANSPARENT;
    }
    let [r, g, b] = hue_wheel()[wheel_index(u, v)];
    let alpha = (strength * 210.0) as u32;
    let premultiply = |c: u8| ((c as u32 * alpha + 127) / 255) as u8;
    Color32::from_rgba_premultiplied(premultiply(r), premultiply(g), premultiply(b), alpha as u8)
}

/// The hue of a direction, opaque (for arrows).
pub fn direction_colour(u: f32, v: f32) -> Color32 {
    let [r, g, b] = hue_wheel()[wheel_index(u, v)];
    Color32::from_rgb(r, g, b)
}

/// Weight (0..1) of each crop pixel for the flow display: 1 on the face, fading to 0 outside
/// an ellipse around the canonical face (hair and background edges are not expressions).
pub fn face_weights(size: usize) -> Vec<f32> {
    let k = size as f32 / TEMPLATE_SIZE;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for [x, y] in CANONICAL_68 {
        x0 = x0.min(x * k);
        x1 = x1.max(x * k);
        y0 = y0.min(y * k);
        y1 = y1.max(y * k);
    }
    // The landmarks stop at the brows: reach a little higher for the forehead.
    y0 -= 0.12 * (y1 - y0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (rx, ry) = ((x1 - x0) / 2.0 * 1.05, (y1 - y0) / 2.0 * 1.05);
    let mut weights = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            let d = ((x as f32 + 0.5 - cx) / rx).hypot((y as f32 + 0.5 - cy) / ry);
            weights.push(((1.15 - d) / 0.3).clamp(0.0, 1.0));
        }
    }
    weights
}

/// The flow field as an image of the crop (one pixel per crop pixel), faded out off the face
/// by `weights` (see [`face_weights`]; empty for none).
pub fn flow_image(field: &MotionField, full_scale: f32, weights: &[f32]) -> egui::ColorImage {
    let weights = if weights.len() == field.u.len() { weights } else { &[] };
    let pixels = field
        .u
        .iter()
        .zip(&field.v)
        .enumerate()
        .map(|(i, (&u, &v))| {
            let colour = flow_colour(u, v, full_scale);
            match weights.get(i) {
                Some(&w) if w < 1.0 => scale_premultiplied(colour, w),
                _ => colour,
            }
        })
        .collect();
    egui::ColorImage::new([field.width, field.height], pixels)
}

fn scale_premultiplied(colour: Color32, factor: f32) -> Color32 {
    let f = factor.clamp(0.0, 1.0);
    let [r, g, b, a] = colour.to_array();
    let k = |c: u8| (c as f32 * f) as u8;
    Color32::from_rgba_premultiplied(k(r), k(g), k(b), k(a))
}

/// Text on a dark plate, readable over any video.
pub fn draw_label(painter: &Painter, left_top: Pos2, text: &str, colour: Color32) {
    let galley = painter.layout_no_wrap(text.to_owned(), FontId::proportional(15.0), colour);
    let plate = Rect::from_min_size(left_top, galley.size() + vec2(12.0, 6.0));
    painter.rect_filled(plate, 4.0, Color32::from_black_alpha(170));
    painter.galley(plate.min + vec2(6.0, 3.0), galley, colour);
}

/// The regions that move more than `threshold`, lit in proportion (crop-sized image).
pub fn region_image(masks: &RegionMasks, levels: &[f32; 8], threshold: f32) -> egui::ColorImage {
    let size = masks.size();
    let mut pixels = vec![Color32::TRANSPARENT; size * size];
    for region in Region::ALL {
        let level = levels[region as usize];
        if level <= threshold {
            continue;
        }
        let strength = ((level - threshold) / threshold.max(1e-3)).clamp(0.25, 1.0);
        let colour = Color32::from_rgba_unmultiplied(
            REGION_COLOUR.r(),
            REGION_COLOUR.g(),
            REGION_COLOUR.b(),
            (60.0 + 130.0 * strength) as u8,
        );
        for &i in masks.pixels(region) {
            pixels[i] = colour;
        }
    }
    egui::ColorImage::new([size, size], pixels)
}

/// The regions whose (display-smoothed) motion is over the threshold.
pub fn moving_regions(levels: &[f32; 8], threshold: f32) -> Vec<Region> {
    Region::ALL.into_iter().filter(|r| levels[*r as usize] > threshold).collect()
}

/// Region magnitudes in [`Region::ALL`] order.
pub fn region_levels(signals: &RegionSignals) -> [f32; 8] {
    signals.values.map(|r| r.magnitude)
}

/// Draws a crop-sized texture onto the face: the crop's corners go through `crop_to_frame`.
pub fn draw_crop_texture(
    painter: &Painter,
    view: &FrameToScreen,
    texture: TextureId,
    crop_to_frame: &Similarity,
    crop_size: f32,
) {
    let corners = [[0.0, 0.0], [crop_size, 0.0], [crop_size, crop_size], [0.0, crop_size]];
    let uvs = [pos2(0.0, 0.0), pos2(1.0, 0.0), pos2(1.0, 1.0), pos2(0.0, 1.0)];
    let mut mesh = Mesh::with_texture(texture);
    for (corner, uv) in corners.iter().zip(uvs) {
        mesh.vertices.push(Vertex { pos: view.point(crop_to_frame.apply(*corner)), uv, color: Color32::WHITE });
    }
    mesh.add_triangle(0, 1, 2);
    mesh.add_triangle(0, 2, 3);
    painter.add(Shape::mesh(mesh));
}

/// Arrows on a grid of the crop, lengthened by [`ARROW_GAIN`], coloured by direction.
pub fn draw_flow_arrows(
    painter: &Painter,
    view: &FrameToScreen,
    field: &MotionField,
    crop_to_frame: &Similarity,
    full_scale: f32,
    weights: &[f32],
) {
    let step = ARROW_STEP;
    let weights = if weights.len() == field.u.len() { weights } else { &[] };
    let linear = |d: [f32; 2]| {
        let p = crop_to_frame.apply(d);
        let o = crop_to_frame.apply([0.0, 0.0]);
        vec2(p[0] - o[0], p[1] - o[1]) * view.scale
    };
    for y in (step / 2..field.height).step_by(step) {
        for x in (step / 2..field.width).step_by(step) {
            let (u, v) = field.at(x, y);
            let magnitude = u.hypot(v);
            if magnitude < full_scale * 0.15 {
                continue;
            }
            let origin = view.point(crop_to_frame.apply([x as f32 + 0.5, y as f32 + 0.5]));
            let vector: Vec2 = linear([u * ARROW_GAIN, v * ARROW_GAIN]);
            if weights.get(y * field.width + x).is_some_and(|w| *w < 0.5) {
                continue;
            }
            painter.arrow(origin, vector, Stroke::new(1.5, direction_colour(u, v)));
        }
    }
}

pub fn draw_face_box(painter: &Painter, view: &FrameToScreen, bbox: &BoxF, label: &str) {
    let rect = view.rect_of(bbox);
    painter.rect_stroke(rect, 2.0, Stroke::new(2.5, FACE_BOX_COLOUR), StrokeKind::Middle);
    painter.text(rect.left_top() - vec2(0.0, 2.0), Align2::LEFT_BOTTOM, label, FontId::proportional(13.0), FACE_BOX_COLOUR);
}

pub fn draw_landmarks(painter: &Painter, view: &FrameToScreen, landmarks: &Landmarks) {
    for point in &landmarks.points {
        painter.circle_filled(view.point(*point), 2.0, LANDMARK_COLOUR);
    }
}

/// A coloured frame around the video and the label, fading with `strength` (0..1).
pub fn draw_flash(painter: &Painter, rect: Rect, label: &str, strength: f32) {
    if strength <= 0.0 {
        return;
    }
    let alpha = (255.0 * strength) as u8;
    let colour = Color32::from_rgba_unmultiplied(FLASH_COLOUR.r(), FLASH_COLOUR.g(), FLASH_COLOUR.b(), alpha);
    painter.rect_stroke(rect.shrink(3.0), 4.0, Stroke::new(6.0, colour), StrokeKind::Inside);
    let font = FontId::proportional(28.0);
    let anchor = rect.center_top() + vec2(0.0, 16.0);
    let galley = painter.layout_no_wrap(label.to_owned(), font, Color32::WHITE);
    let back = Rect::from_center_size(anchor + vec2(0.0, galley.size().y / 2.0), galley.size() + vec2(24.0, 10.0));
    painter.rect_filled(back, 6.0, colour);
    painter.galley(back.center() - galley.size() / 2.0, galley, Color32::WHITE);
}

/// A small direction wheel in a corner, as the legend of the flow colours.
pub fn draw_colour_legend(painter: &Painter, centre: Pos2, radius: f32) {
    let steps = 24;
    for i in 0..steps {
        let angle = i as f32 / steps as f32 * std::f32::consts::TAU;
        let (u, v) = (angle.cos(), angle.sin());
        let colour = direction_colour(u, v);
        painter.line_segment([centre, centre + vec2(u, v) * radius], Stroke::new(3.0, colour));
    }
    painter.circle_stroke(centre, radius, Stroke::new(1.0, Color32::from_gray(200)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_map_encodes_direction_and_magnitude() {
        assert_eq!(flow_colour(0.0, 0.0, 0.6), Color32::TRANSPARENT);
        let right = flow_colour(0.6, 0.0, 0.6);
        let left = flow_colour(-0.6, 0.0, 0.6);
        assert_ne!(right, left, "direction changes the hue");
        assert_eq!(right.a(), 210, "full scale is fully coloured");
        let faint = flow_colour(0.15, 0.0, 0.6);
        assert!(faint.a() > 0 && faint.a() < right.a(), "a micro-expression's 0.15 px is visible");
        assert_eq!(flow_colour(6.0, 0.0, 0.6).a(), 210, "clamped");
    }

    #[test]
    fn flow_image_has_the_crop_size() {
        let mut field = MotionField::zeros(16, 8);
        field.u[3] = 1.0;
        let image = flow_image(&field, 0.6, &[]);
        assert_eq!(image.size, [16, 8]);
        assert!(image.pixels[3].a() > 0 && image.pixels[4].a() == 0);
        let mut weights = vec![1.0; 16 * 8];
        weights[3] = 0.0;
        assert_eq!(flow_image(&field, 0.6, &weights).pixels[3].a(), 0, "faded out off the face");
    }

    #[test]
    fn face_weights_cover_the_face_not_the_corners() {
        let weights = face_weights(128);
        assert_eq!(weights.len(), 128 * 128);
        let at = |x: usize, y: usize| weights[y * 128 + x];
        assert_eq!(at(64, 70), 1.0, "centre of the face");
        assert_eq!(at(0, 0), 0.0, "corner");
        assert_eq!(at(127, 127), 0.0, "corner");
    }

    #[test]
    fn regions_light_up_over_the_threshold() {
        let masks = RegionMasks::new(64);
        let mut levels = [0.0f32; 8];
        levels[Region::MouthL as usize] = 0.5;
        assert_eq!(moving_regions(&levels, 0.2), vec![Region::MouthL]);
        let image = region_image(&masks, &levels, 0.2);
        let lit = image.pixels.iter().filter(|p| p.a() > 0).count();
        assert_eq!(lit, masks.pixels(Region::MouthL).len());
        assert!(region_image(&masks, &levels, 0.6).pixels.iter().all(|p| p.a() == 0));
    }

    #[test]
    fn frame_fits_keeping_its_aspect() {
        let view = FrameToScreen::fit(Rect::from_min_size(pos2(10.0, 20.0), vec2(800.0, 300.0)), 640, 480);
        assert!((view.scale - 0.625).abs() < 1e-6);
        assert!((view.rect.width() - 400.0).abs() < 1e-3 && (view.rect.height() - 300.0).abs() < 1e-3);
        assert_eq!(view.point([0.0, 0.0]), pos2(210.0, 20.0));
        let bbox = BoxF { x: 100.0, y: 100.0, width: 160.0, height: 160.0 };
        assert!((view.rect_of(&bbox).width() - 100.0).abs() < 1e-3);
    }
}
