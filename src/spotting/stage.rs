//! The spotter on the pipeline: keeps the recent aligned crops so that each spotted event leaves
//! with the frames from its onset to its offset (for recognition and the event images).

use std::collections::VecDeque;

use opencv::core::Mat;
use opencv::prelude::*;

use crate::motion::FrameMotion;

use super::{SpotEvent, SpotSample, Spotter, SpotterConfig};

/// A spotted event with its aligned grayscale crops, onset to offset inclusive, in order.
pub struct EventFrames {
    pub event: SpotEvent,
    /// `(index, seconds, crop)`.
    pub crops: Vec<(u64, f64, Mat)>,
}

impl EventFrames {
    fn crop(&self, index: u64) -> Option<&Mat> {
        self.crops.iter().find(|(i, _, _)| *i == index).map(|(_, _, crop)| crop)
    }

    pub fn onset_crop(&self) -> Option<&Mat> {
        self.crop(self.event.onset.index)
    }

    pub fn apex_crop(&self) -> Option<&Mat> {
        self.crop(self.event.apex.index)
    }

    pub fn offset_crop(&self) -> Option<&Mat> {
        self.crop(self.event.offset.index)
    }

    /// Crops from `from` to `to` (frame indices, inclusive).
    pub fn span(&self, from: u64, to: u64) -> Vec<&Mat> {
        self.crops.iter().filter(|(i, _, _)| (from..=to).contains(i)).map(|(_, _, crop)| crop).collect()
    }
}

pub struct SpottingStage {
    spotter: Spotter,
    crops: VecDeque<(u64, f64, Mat)>,
    face_id: Option<u32>,
}

impl SpottingStage {
    pub fn new(config: SpotterConfig) -> Self {
        Self { spotter: Spotter::new(config), crops: VecDeque::new(), face_id: None }
    }

    pub fn spotter(&self) -> &Spotter {
        &self.spotter
    }

    pub fn spotter_mut(&mut self) -> &mut Spotter {
        &mut self.spotter
    }

    /// One frame: the tracked face's id and aligned crop when the face is reliable, and its
    /// motion when there is some. A new face identity starts the spotter's history again.
    pub fn process(
        &mut self,
        index: u64,
        seconds: f64,
        face: Option<(u32, &Mat)>,
        motion: Option<&FrameMotion>,
    ) -> Result<(SpotSample, Option<EventFrames>), opencv::Error> {
        let face_id = face.map(|(id, _)| id);
        let motion = if face_id.is_some() && face_id == self.face_id { motion } else { None };
        if face_id != self.face_id {
            self.crops.clear();
            self.face_id = face_id;
        }
        if let Some((_, crop)) = face {
            self.crops.push_back((index, seconds, crop.try_clone()?));
        } else {
            self.crops.clear();
        }
        let keep_ms = self.spotter.config().max_duration_ms + 1000.0;
        while self.crops.front().is_some_and(|(_, t, _)| (seconds - t) * 1000.0 > keep_ms) {
            self.crops.pop_front();
        }
        let (sample, event) = self.spotter.push(index, seconds, motion);
        Ok((sample, event.map(|event| self.with_crops(event)).transpose()?))
    }

    /// The end of the stream: closes an event still open.
    pub fn finish(&mut self) -> Result<Option<EventFrames>, opencv::Error> {
        self.spotter.finish().map(|event| self.with_crops(event)).transpose()
    }

    fn with_crops(&self, event: SpotEvent) -> Result<EventFrames, opencv::Error> {
        let (from, to) = (event.onset.index, event.offset.index);
        let crops = self
            .crops
            .iter()
            .filter(|(i, _, _)| (from..=to).contains(i))
            .map(|(i, t, crop)| Ok((*i, *t, crop.try_clone()?)))
            .collect::<Result<_, opencv::Error>>()?;
        Ok(EventFrames { event, crops })
    }
}
