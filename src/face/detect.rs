//! Face detection with OpenCV's Haar cascade (Debian's `opencv-data`), run on a downscaled frame.

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use super::{BoxF, FaceError};

const CASCADE_FILE: &str = "haarcascade_frontalface_default.xml";
const CASCADE_DIRS: [&str; 3] =
    ["/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades", "/usr/local/share/opencv4/haarcascades"];

/// Where the cascade is: `$GLIMPSE_CASCADE`, else Debian's and OpenCV's usual install places.
pub fn find_cascade() -> Result<PathBuf, FaceError> {
    if let Some(path) = std::env::var_os("GLIMPSE_CASCADE") {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(FaceError::CascadeMissing { searched: vec![path] }) };
    }
    let searched: Vec<PathBuf> = CASCADE_DIRS.iter().map(|dir| Path::new(dir).join(CASCADE_FILE)).collect();
    searched.iter().find(|path| path.is_file()).cloned().ok_or(FaceError::CascadeMissing { searched })
}

pub struct FaceDetector {
    cascade: CascadeClassifier,
    path: PathBuf,
}

impl FaceDetector {
    pub fn new(path: &Path) -> Result<Self, FaceError> {
        let bad = |reason: String| FaceError::CascadeUnreadable { path: path.to_owned(), reason };
        let text = path.to_str().ok_or_else(|| bad("path is not UTF-8".into()))?;
        let cascade = CascadeClassifier::new(text).map_err(|error| bad(error.to_string()))?;
        if cascade.empty().map_err(|error| bad(error.to_string()))? {
            return Err(bad("not a valid cascade file".into()));
        }
        Ok(Self { cascade, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Faces in `gray` (already downscaled by `scale` from the frame), in frame pixels, with the
    /// number of raw detections merged into each (the cascade's own vote count).
    pub fn detect(&mut self, gray: &Mat, scale: f32) -> Result<Vec<(BoxF, i32)>, FaceError> {
        let min_side = (gray.rows().min(gray.cols()) / 8).max(MIN_WINDOW);
        self.run(gray, Size::new(min_side, min_side), Size::default(), scale)
    }

    /// Faces of about the size of `around` (frame pixels): the re-detection of a tracked face.
    /// The cascade runs on the same image and the same grid as [`FaceDetector::detect`], only
    /// at the scales a face of that size can have by the next re-detection; the small scales,
    /// on the largest images, are the expensive ones, so this costs a fraction of the full search.
    /// (Searching only a region around the face is cheaper still, but shifts the cascade's grid:
    /// the boxes differ by a pixel or two, and the spotter sees the difference.)
    pub fn detect_near(&mut self, gray: &Mat, scale: f32, around: &BoxF) -> Result<Vec<(BoxF, i32)>, FaceError> {
        let side = around.width.max(around.height) * scale;
        let min_side = ((side / NEAR_SIZE_RATIO) as i32).max(MIN_WINDOW);
        let max_side = ((side * NEAR_SIZE_RATIO).ceil() as i32).min(gray.cols().min(gray.rows()));
        if max_side < min_side {
            return Ok(Vec::new());
        }
        self.run(gray, Size::new(min_side, min_side), Size::new(max_side, max_side), scale)
    }

    /// The cascade on `gray` for faces between `min` and `max` (`Size::default()`: no limit).
    fn run(&mut self, gray: &Mat, min: Size, max: Size, scale: f32) -> Result<Vec<(BoxF, i32)>, FaceError> {
        let mut faces = Vector::<Rect>::new();
        let mut votes = Vector::<i32>::new();
        self.cascade.detect_multi_scale2(gray, &mut faces, &mut votes, 1.1, 3, 0, min, max)?;
        Ok(faces
            .iter()
            .zip(votes.iter())
            .map(|(rect, votes)| {
                let box_ = BoxF {
                    x: rect.x as f32 / scale,
                    y: rect.y as f32 / scale,
                    width: rect.width as f32 / scale,
                    height: rect.height as f32 / scale,
                };
                (box_, votes)
            })
            .collect())
    }
}

/// The cascade's own window (24 px for the frontal-face cascades): nothing smaller is searched.
const MIN_WINDOW: i32 = 24;
/// Re-detection looks for faces between 1/ratio and ratio times the tracked face's side.
const NEAR_SIZE_RATIO: f32 = 1.5;

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::imgproc;

    #[test]
    fn detection_at_a_face_s_size_finds_the_face_the_full_search_finds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png");
        let image = opencv::imgcodecs::imread(path, opencv::imgcodecs::IMREAD_COLOR).unwrap();
        let mut gray = Mat::default();
        imgproc::cvt_color_def(&image, &mut gray, imgproc::COLOR_BGR2GRAY).unwrap();
        let mut detector = FaceDetector::new(&find_cascade().unwrap()).unwrap();
        let everywhere = detector.detect(&gray, 1.0).unwrap();
        let (face, _) = *everywhere.iter().max_by(|a, b| a.0.area().total_cmp(&b.0.area())).expect("the astronaut's face");
        // The face as a tracker would have it: a little off and a little smaller.
        let tracked = BoxF { x: face.x + 0.05 * face.width, width: face.width * 0.9, height: face.height * 0.9, ..face };
        let near = detector.detect_near(&gray, 1.0, &tracked).unwrap();
        assert!(near.iter().any(|(det, _)| det.iou(&face) > 0.8), "{near:?} vs {face:?}");
        // A third of the face's size: the face is outside the scales searched.
        let small = BoxF { width: face.width / 3.0, height: face.height / 3.0, ..face };
        let found = detector.detect_near(&gray, 1.0, &small).unwrap();
        assert!(found.iter().all(|(det, _)| det.width < face.width / 1.5), "{found:?} vs {face:?}");
    }
}
