//! Tracking a face box between detections: corners inside the box followed by pyramidal
//! Lucas-Kanade with a forward-backward check; the box moves by their median translation and
//! scales by their median change of spread.

use opencv::core::{Mat, Point2f, Rect, Scalar, Size, TermCriteria, Vector};
use opencv::prelude::*;
use opencv::{imgproc, video};

use super::{BoxF, FaceError};

/// Fewer surviving points than this and the track is lost.
const MIN_POINTS: usize = 8;
/// Below this many, new corners are found before the next step.
const REPLENISH_BELOW: usize = 40;
const MAX_CORNERS: i32 = 80;
/// Forward-backward error allowed, in working-image pixels.
const MAX_FB_ERROR: f32 = 1.0;

pub struct BoxTracker {
    points: Vector<Point2f>,
}

/// One tracking step's result.
pub struct TrackStep {
    pub bbox: BoxF,
    /// Share of the points that survived the forward-backward check (0..1).
    pub inlier_ratio: f32,
}

impl BoxTracker {
    pub fn new() -> Self {
        Self { points: Vector::new() }
    }

    /// Forgets the points (a new face, or a detection replaced the box).
    pub fn reset(&mut self) {
        self.points.clear();
    }

    /// Finds corners to follow inside `bbox` (frame pixels) of the working image.
    pub fn seed(&mut self, gray: &Mat, bbox: &BoxF, scale: f32) -> Result<(), FaceError> {
        let inner = bbox.scaled(scale).shrunk(0.15).to_rect(gray.cols(), gray.rows());
        let Some(inner) = inner else {
            self.points.clear();
            return Ok(());
        };
        let mut mask = Mat::new_rows_cols_with_default(gray.rows(), gray.cols(), opencv::core::CV_8UC1, Scalar::all(0.0))?;
        imgproc::rectangle(&mut mask, inner, Scalar::all(255.0), -1, imgproc::LINE_8, 0)?;
        let mut corners = Vector::<Point2f>::new();
        let min_distance = (inner.width.min(inner.height) as f64 / 12.0).max(2.0);
        imgproc::good_features_to_track(gray, &mut corners, MAX_CORNERS, 0.01, min_distance, &mask, 3, false, 0.04)?;
        self.points = corners;
        Ok(())
    }

    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// Moves `bbox` from `previous` to `current` (both working images at `scale`). `None` when
    /// too few points could be followed.
    pub fn step(&mut self, previous: &Mat, current: &Mat, bbox: &BoxF, scale: f32) -> Result<Option<TrackStep>, FaceError> {
        if self.points.len() < REPLENISH_BELOW {
            self.seed(previous, bbox, scale)?;
        }
        if self.points.len() < MIN_POINTS {
            return Ok(None);
        }
        let criteria = TermCriteria::new(opencv::core::TermCriteria_COUNT + opencv::core::TermCriteria_EPS, 20, 0.03)?;
        let window = Size::new(15, 15);
        let track = |from: &Mat, to: &Mat, points: &Vector<Point2f>| -> Result<(Vector<Point2f>, Vector<u8>), FaceError> {
            let mut moved = Vector::<Point2f>::new();
            let mut status = Vector::<u8>::new();
            let mut error = Vector::<f32>::new();
            video::calc_optical_flow_pyr_lk(from, to, points, &mut moved, &mut status, &mut error, window, 2, criteria, 0, 1e-4)?;
            Ok((moved, status))
        };
        let (forward, status_forward) = track(previous, current, &self.points)?;
        let (backward, status_backward) = track(current, previous, &forward)?;

        let attempted = self.points.len();
        let mut old = Vec::with_capacity(attempted);
        let mut new = Vec::with_capacity(attempted);
        for i in 0..attempted {
            let (p, q, r) = (self.points.get(i)?, forward.get(i)?, backward.get(i)?);
            let ok = status_forward.get(i)? == 1 && status_backward.get(i)? == 1;
            if ok && (p.x - r.x).hypot(p.y - r.y) <= MAX_FB_ERROR {
                old.push(p);
                new.push(q);
            }
        }
        if new.len() < MIN_POINTS {
            self.points.clear();
            return Ok(None);
        }

        let mut dx: Vec<f32> = old.iter().zip(&new).map(|(p, q)| q.x - p.x).collect();
        let mut dy: Vec<f32> = old.iter().zip(&new).map(|(p, q)| q.y - p.y).collect();
        let mut ratios = Vec::with_capacity(new.len() * 4);
        for i in 0..new.len() {
            // A bounded sample of pairs keeps this linear in the point count.
            for j in (i + 1..new.len()).step_by(1 + new.len() / 8) {
                let before = (old[i].x - old[j].x).hypot(old[i].y - old[j].y);
                if before > 4.0 {
                    ratios.push((new[i].x - new[j].x).hypot(new[i].y - new[j].y) / before);
                }
            }
        }
        let shift_x = median(&mut dx) / scale;
        let shift_y = median(&mut dy) / scale;
        let zoom = if ratios.is_empty() { 1.0 } else { median(&mut ratios).clamp(0.8, 1.25) };

        let (cx, cy) = bbox.centre();
        let (width, height) = (bbox.width * zoom, bbox.height * zoom);
        let moved = BoxF { x: cx + shift_x - width / 2.0, y: cy + shift_y - height / 2.0, width, height };
        self.points = new.into_iter().collect();
        Ok(Some(TrackStep { bbox: moved, inlier_ratio: self.points.len() as f32 / attempted as f32 }))
    }
}

impl Default for BoxTracker {
    fn default() -> Self {
        Self::new()
    }
}

fn median(values: &mut [f32]) -> f32 {
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f32::total_cmp).1
}

impl BoxF {
    pub(super) fn scaled(&self, k: f32) -> BoxF {
        BoxF { x: self.x * k, y: self.y * k, width: self.width * k, height: self.height * k }
    }

    pub(super) fn shrunk(&self, fraction: f32) -> BoxF {
        let (dx, dy) = (self.width * fraction, self.height * fraction);
        BoxF { x: self.x + dx, y: self.y + dy, width: self.width - 2.0 * dx, height: self.height - 2.0 * dy }
    }

    /// Integer rectangle clipped to a `cols` x `rows` image; `None` if nothing is left.
    pub(super) fn to_rect(&self, cols: i32, rows: i32) -> Option<Rect> {
        let x0 = (self.x.floor() as i32).clamp(0, cols);
        let y0 = (self.y.floor() as i32).clamp(0, rows);
        let x1 = ((self.x + self.width).ceil() as i32).clamp(0, cols);
        let y1 = ((self.y + self.height).ceil() as i32).clamp(0, rows);
        (x1 - x0 >= 4 && y1 - y0 >= 4).then(|| Rect::new(x0, y0, x1 - x0, y1 - y0))
    }
}
