//! OpenCV images to egui images, and the cheap face-brightness measure behind "poor light".

use eframe::egui;
use opencv::core::{self, Mat, Rect as CvRect};
use opencv::prelude::*;

use crate::face::BoxF;

/// An 8-bit BGR, BGRA or grayscale Mat (any other depth is min-max scaled to 8 bits) as an
/// egui image.
pub fn to_colour_image(mat: &Mat) -> Result<egui::ColorImage, opencv::Error> {
    let mut eight = Mat::default();
    let source = if mat.depth() == core::CV_8U {
        mat
    } else {
        core::normalize(mat, &mut eight, 0.0, 255.0, core::NORM_MINMAX, core::CV_8U, &core::no_array())?;
        &eight
    };
    let continuous;
    let source = if source.is_continuous() {
        source
    } else {
        continuous = source.try_clone()?;
        &continuous
    };
    let size = [source.cols().max(0) as usize, source.rows().max(0) as usize];
    let bytes = source.data_bytes()?;
    // One pass from OpenCV's BGR(A)/gray straight to egui's pixels.
    let pixels: Vec<egui::Color32> = match source.channels() {
        1 => bytes.iter().map(|&g| egui::Color32::from_gray(g)).collect(),
        4 => bytes.chunks_exact(4).map(|p| egui::Color32::from_rgb(p[2], p[1], p[0])).collect(),
        _ => bytes.chunks_exact(3).map(|p| egui::Color32::from_rgb(p[2], p[1], p[0])).collect(),
    };
    if pixels.len() != size[0] * size[1] {
        return Err(opencv::Error::new(core::StsBadArg, format!("unexpected {}-channel image", source.channels())));
    }
    Ok(egui::ColorImage::new(size, pixels))
}

/// Mean luminance (0..255) inside the face box of a BGR frame, on a subsample: cheap enough
/// for every displayed frame.
pub fn face_luminance(frame: &Mat, bbox: &BoxF) -> Result<Option<f32>, opencv::Error> {
    let (w, h) = (frame.cols(), frame.rows());
    let x0 = (bbox.x.max(0.0) as i32).min(w);
    let y0 = (bbox.y.max(0.0) as i32).min(h);
    let x1 = ((bbox.x + bbox.width) as i32).clamp(x0, w);
    let y1 = ((bbox.y + bbox.height) as i32).clamp(y0, h);
    if x1 - x0 < 4 || y1 - y0 < 4 {
        return Ok(None);
    }
    let roi = Mat::roi(frame, CvRect::new(x0, y0, x1 - x0, y1 - y0))?;
    let mean = core::mean_def(&roi)?;
    // Rec. 601 luma from BGR means.
    let luminance = if frame.channels() >= 3 { 0.114 * mean[0] + 0.587 * mean[1] + 0.299 * mean[2] } else { mean[0] };
    Ok(Some(luminance as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{CV_8UC3, Scalar};

    #[test]
    fn bgr_becomes_rgb() {
        let mat = Mat::new_rows_cols_with_default(2, 3, CV_8UC3, Scalar::new(255.0, 0.0, 10.0, 0.0)).unwrap();
        let image = to_colour_image(&mat).unwrap();
        assert_eq!(image.size, [3, 2]);
        assert_eq!(image.pixels[0], egui::Color32::from_rgb(10, 0, 255));
    }

    #[test]
    fn luminance_of_the_face_box() {
        let mut mat = Mat::new_rows_cols_with_default(100, 100, CV_8UC3, Scalar::all(20.0)).unwrap();
        let mut bright = Mat::roi_mut(&mut mat, CvRect::new(50, 50, 50, 50)).unwrap();
        bright.set_scalar(Scalar::all(200.0)).unwrap();
        let dark = face_luminance(&mat, &BoxF { x: 0.0, y: 0.0, width: 40.0, height: 40.0 }).unwrap().unwrap();
        let lit = face_luminance(&mat, &BoxF { x: 60.0, y: 60.0, width: 100.0, height: 100.0 }).unwrap().unwrap();
        assert!((dark - 20.0).abs() < 0.5 && (lit - 200.0).abs() < 0.5, "{dark} {lit}");
        assert_eq!(face_luminance(&mat, &BoxF { x: 200.0, y: 0.0, width: 10.0, height: 10.0 }).unwrap(), None);
    }
}
