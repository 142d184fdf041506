//! Face detection with OpenCV's Haar cascade (Debian's `opencv-data`), run on a downscaled frame.

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use super::{BoxF, FaceError};

const CASCADE_FILE: &str = "haarcascade_frontalface_default.xml";
const CASCADE_DIRS: [&str; 3] = [
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
];

/// Where the cascade is: `$GLIMPSE_CASCADE`, else Debian's and OpenCV's usual install places.
pub fn find_cascade() -> Result<PathBuf, FaceError> {
    if let Some(path) = std::env::var_os("GLIMPSE_CASCADE") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(FaceError::CascadeMissing { searched: vec![path] })
        };
    }
    let searched: Vec<PathBuf> = CASCADE_DIRS.iter().map(|dir| Path::new(dir).join(CASCADE_FILE)).collect();
    searched
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or(FaceError::CascadeMissing { searched })
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
        let mut faces = Vector::<Rect>::new();
        let mut votes = Vector::<i32>::new();
        let min_side = (gray.rows().min(gray.cols()) / 8).max(24);
        self.cascade.detect_multi_scale2(
            gray,
            &mut faces,
            &mut votes,
            1.1,
            3,
            0,
            Size::new(min_side, min_side),
            Size::default(),
        )?;
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
