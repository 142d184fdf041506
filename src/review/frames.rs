//! `frames.csv` read back for review: what the overlays and the timeline need from each row.
//! Columns are found by name, so files with or without landmarks (or from an older version with
//! fewer of glimpse's own columns) read alike; only OpenFace's first five are required.

use std::path::Path;

use crate::face::{BoxF, Landmarks, Similarity};
use crate::inference::MER_CLASSES;
use crate::motion::Region;
use crate::session::SessionError;

/// One analysed frame, as `frames.csv` has it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRow {
    /// From 1, as in the file.
    pub frame: u64,
    /// Stream seconds: the video's presentation time of this frame.
    pub seconds: f64,
    /// 0: no face.
    pub face_id: u32,
    pub confidence: f32,
    pub success: bool,
    pub landmarks: Option<Box<Landmarks>>,
    pub face_box: Option<BoxF>,
    /// Frame pixels -> crop pixels as the frame was aligned (`align_*`; absent in files written
    /// before those columns).
    pub to_crop: Option<Similarity>,
    /// Region motion (crop pixels) in [`Region::ALL`] order.
    pub regions: Option<[f32; 8]>,
    pub spot_score: Option<f32>,
    pub spot_threshold: Option<f32>,
    pub spot_active: bool,
    pub probabilities: Option<[f32; 3]>,
}

/// Every row of a session's `frames.csv`, in order.
#[derive(Debug, Clone, Default)]
pub struct FrameTable {
    rows: Vec<FrameRow>,
}

impl FrameTable {
    pub fn read(path: &Path) -> Result<Self, SessionError> {
        let bad = |line: u64, detail: String| SessionError::Malformed { path: path.to_owned(), line, detail };
        let file = std::fs::File::open(path).map_err(|source| SessionError::Read { path: path.to_owned(), source })?;
        let mut reader = csv::ReaderBuilder::new().from_reader(std::io::BufReader::new(file));
        let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        let require = |name: &str| find(name).ok_or_else(|| bad(1, format!("no column '{name}' in the header")));
        let (frame, face_id, timestamp, confidence, success) =
            (require("frame")?, require("face_id")?, require("timestamp")?, require("confidence")?, require("success")?);
        let xs: Option<Vec<usize>> = (0..68).map(|i| find(&format!("x_{i}"))).collect();
        let ys: Option<Vec<usize>> = (0..68).map(|i| find(&format!("y_{i}"))).collect();
        let face_box: Option<Vec<usize>> = ["face_x", "face_y", "face_w", "face_h"].iter().map(|n| find(n)).collect();
        let alignment: Option<Vec<usize>> = ["align_a", "align_b", "align_tx", "align_ty"].iter().map(|n| find(n)).collect();
        let regions: Option<Vec<usize>> = Region::ALL.iter().map(|r| find(&format!("motion_{}", r.name()))).collect();
        let probabilities: Option<Vec<usize>> = MER_CLASSES.iter().map(|c| find(&format!("p_{c}"))).collect();
        let (spot_score, spot_threshold, spot_active) = (find("spot_score"), find("spot_threshold"), find("spot_active"));

        let mut rows: Vec<FrameRow> = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |column: usize| record.get(column).unwrap_or("").trim();
            let number = |column: usize| -> Result<Option<f64>, SessionError> {
                let text = field(column);
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse::<f64>()
                    .map(Some)
                    .map_err(|_| bad(line, format!("column '{}' is not a number: '{text}'", &headers[column])))
            };
            let required = |column: usize| -> Result<f64, SessionError> {
                number(column)?.ok_or_else(|| bad(line, format!("column '{}' is blank", &headers[column])))
            };
            // A group of columns is there only when every one of them has a value.
            let group = |columns: &Option<Vec<usize>>| -> Result<Option<Vec<f32>>, SessionError> {
                let Some(columns) = columns else { return Ok(None) };
                let values: Vec<Option<f64>> = columns.iter().map(|&c| number(c)).collect::<Result<_, _>>()?;
                Ok(values.into_iter().map(|v| v.map(|v| v as f32)).collect())
            };
            let seconds = required(timestamp)?;
            if let Some(previous) = rows.last()
                && seconds < previous.seconds
            {
                return Err(bad(line, format!("the timestamp goes backwards ({seconds} s after {} s)", previous.seconds)));
            }
            let landmarks = match (group(&xs)?, group(&ys)?) {
                (Some(x), Some(y)) => Some(Box::new(Landmarks { points: std::array::from_fn(|i| [x[i], y[i]]) })),
                _ => None,
            };
            rows.push(FrameRow {
                frame: required(frame)? as u64,
                seconds,
                face_id: required(face_id)? as u32,
                confidence: required(confidence)? as f32,
                success: required(success)? > 0.5,
                landmarks,
                face_box: group(&face_box)?.map(|b| BoxF { x: b[0], y: b[1], width: b[2], height: b[3] }),
                to_crop: group(&alignment)?.map(|t| Similarity { a: t[0], b: t[1], tx: t[2], ty: t[3] }),
                regions: group(&regions)?.map(|r| std::array::from_fn(|i| r[i])),
                spot_score: spot_score.map(number).transpose()?.flatten().map(|v| v as f32),
                spot_threshold: spot_threshold.map(number).transpose()?.flatten().map(|v| v as f32),
                spot_active: spot_active.map(number).transpose()?.flatten().is_some_and(|v| v > 0.5),
                probabilities: group(&probabilities)?.map(|p| [p[0], p[1], p[2]]),
            });
        }
        if rows.is_empty() {
            return Err(bad(0, "no frames: the file has a header only".into()));
        }
        Ok(Self { rows })
    }

    pub fn rows(&self) -> &[FrameRow] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Stream seconds of the first and the last frame.
    pub fn span(&self) -> (f64, f64) {
        match (self.rows.first(), self.rows.last()) {
            (Some(first), Some(last)) => (first.seconds, last.seconds),
            _ => (0.0, 0.0),
        }
    }

    /// The row on screen at `seconds`: the last frame presented at or before it (the first
    /// before the first).
    pub fn row_at(&self, seconds: f64) -> usize {
        self.rows.partition_point(|row| row.seconds <= seconds).saturating_sub(1)
    }

    /// The row nearest in time to `seconds`.
    pub fn nearest_row(&self, seconds: f64) -> usize {
        let after = self.rows.partition_point(|row| row.seconds < seconds);
        match (after.checked_sub(1), self.rows.get(after)) {
            (Some(before), Some(next)) if seconds - self.rows[before].seconds <= next.seconds - seconds => before,
            (Some(before), None) => before,
            _ => after.min(self.rows.len().saturating_sub(1)),
        }
    }

    /// The row of a frame number (from 1).
    pub fn row_of_frame(&self, frame: u64) -> Option<usize> {
        self.rows.binary_search_by_key(&frame, |row| row.frame).ok()
    }

    /// Each row's time, for the video reader.
    pub fn timestamps(&self) -> Vec<f64> {
        self.rows.iter().map(|row| row.seconds).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::frames_csv_header;

    fn write(dir: &Path, rows: &[String]) -> std::path::PathBuf {
        let path = dir.join("frames.csv");
        let mut text = frames_csv_header().join(",");
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A row in the writer's layout: no landmarks, a face box, region motion, a score.
    fn row(frame: u64, seconds: f64, score: &str) -> String {
        let mut fields = vec![frame.to_string(), "1".into(), format!("{seconds:.6}"), "0.950".into(), "1".into()];
        fields.extend(std::iter::repeat_n(String::new(), 136));
        fields.push("123".into());
        fields.extend(["200.00", "120.00", "180.00", "180.00"].map(String::from));
        fields.extend(["0.7000000", "0.0100000", "-100.0000", "-50.0000"].map(String::from));
        fields.extend(["1", "0.1", "0.0", "0.0", "1.0"].map(String::from));
        fields.extend(std::iter::repeat_n("0.0500".to_string(), 8));
        fields.extend([score.to_string(), "8.00".into(), "0".into()]);
        fields.extend(std::iter::repeat_n(String::new(), 3));
        fields.join(",")
    }

    #[test]
    fn rows_read_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[row(1, 0.0, ""), row(2, 0.033367, "2.500"), row(3, 0.066733, "9.000")]);
        let table = FrameTable::read(&path).unwrap();
        assert_eq!(table.len(), 3);
        let second = &table.rows()[1];
        assert_eq!((second.frame, second.face_id, second.success), (2, 1, true));
        assert_eq!(second.face_box, Some(BoxF { x: 200.0, y: 120.0, width: 180.0, height: 180.0 }));
        assert_eq!(second.to_crop, Some(Similarity { a: 0.7, b: 0.01, tx: -100.0, ty: -50.0 }));
        assert_eq!(second.landmarks, None, "blank landmark columns");
        assert_eq!(second.spot_score, Some(2.5));
        assert_eq!(table.rows()[0].spot_score, None);
        assert_eq!(second.regions, Some([0.05; 8]));
        assert_eq!(second.probabilities, None);
        assert_eq!(table.span(), (0.0, 0.066733));
    }

    #[test]
    fn files_from_before_the_alignment_columns_read_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frames.csv");
        let header: Vec<String> = frames_csv_header().into_iter().filter(|c| !c.starts_with("align_")).collect();
        let mut fields: Vec<String> = row(1, 0.0, "2.000").split(',').map(String::from).collect();
        let first_align = frames_csv_header().iter().position(|c| c == "align_a").unwrap();
        fields.drain(first_align..first_align + 4);
        std::fs::write(&path, format!("{}\n{}\n", header.join(","), fields.join(","))).unwrap();
        let table = FrameTable::read(&path).unwrap();
        let first = &table.rows()[0];
        assert_eq!((first.to_crop, first.spot_score), (None, Some(2.0)));
        assert_eq!(first.face_box, Some(BoxF { x: 200.0, y: 120.0, width: 180.0, height: 180.0 }));
    }

    #[test]
    fn time_finds_the_row_on_screen() {
        let dir = tempfile::tempdir().unwrap();
        // Variable frame rate: gaps of 40, 10 and 100 ms.
        let path = write(dir.path(), &[row(1, 0.0, ""), row(2, 0.04, ""), row(3, 0.05, ""), row(4, 0.15, "")]);
        let table = FrameTable::read(&path).unwrap();
        assert_eq!(table.row_at(-1.0), 0);
        assert_eq!(table.row_at(0.039), 0);
        assert_eq!(table.row_at(0.04), 1);
        assert_eq!(table.row_at(0.149), 2);
        assert_eq!(table.row_at(9.0), 3);
        assert_eq!(table.nearest_row(0.044), 1);
        assert_eq!(table.nearest_row(0.046), 2);
        assert_eq!(table.nearest_row(0.11), 3);
        assert_eq!(table.nearest_row(-3.0), 0);
        assert_eq!(table.nearest_row(3.0), 3);
        assert_eq!(table.row_of_frame(3), Some(2));
        assert_eq!(table.row_of_frame(9), None);
    }

    #[test]
    fn malformed_files_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (vec![row(1, 0.0, ""), row(2, 0.04, "x")], "line 3"),
            (vec![row(1, 0.5, ""), row(2, 0.04, "")], "backwards"),
            (vec![], "no frames"),
        ];
        for (rows, expected) in cases {
            let error = FrameTable::read(&write(dir.path(), &rows)).unwrap_err().to_string();
            assert!(error.contains("frames.csv") && error.contains(expected), "{error} (expected {expected})");
        }
        std::fs::write(dir.path().join("frames.csv"), "frame,timestamp\n1,0.0\n").unwrap();
        let error = FrameTable::read(&dir.path().join("frames.csv")).unwrap_err().to_string();
        assert!(error.contains("no column 'face_id'"), "{error}");
    }
}
