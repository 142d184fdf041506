//! Everything said about one spotted event: its emotion (MER model on the onset->apex input), an
//! AU guess, and the pictures of its motion. Runs off the analysis thread, one event at a time.

use std::time::Instant;

use crate::inference::{MER_CLASSES, Recogniser};
use crate::motion::{FlowEstimator, MotionAnalyser};
use crate::spotting::{EventFrames, EventKind, SpotEvent};

use super::RecognitionError;
use super::au::guess_aus;
use super::images::{RgbImage, colour_scale, combined_flow, dynamic_image, flow_colour, magnitude_modulated};
use super::input::{TvL1Flow, canonical_mer_input};

/// The model's verdict on an event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recognition {
    /// In [`MER_CLASSES`] order.
    pub probabilities: [f32; 3],
    pub emotion: &'static str,
}

impl Recognition {
    pub fn from_probabilities(probabilities: [f32; 3]) -> Self {
        let best = (0..3).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b])).unwrap_or(0);
        Self { probabilities, emotion: MER_CLASSES[best] }
    }
}

/// The pictures of an event (see [`super::images`]).
#[derive(Debug, Clone)]
pub struct EventImages {
    pub onset: RgbImage,
    pub apex: RgbImage,
    pub offset: RgbImage,
    /// Onset->apex flow, head motion removed, in colour.
    pub flow: RgbImage,
    pub cof: RgbImage,
    pub mm_cof: RgbImage,
    /// Dynamic images of onset..apex and apex..offset (`None` when a phase has one frame).
    pub di_rise: Option<RgbImage>,
    pub di_fall: Option<RgbImage>,
    /// Flow magnitude (crop pixels) that the colour pictures show at full brightness.
    pub colour_scale_px: f32,
}

impl EventImages {
    /// `(file stem, image)` for every picture there is, for saving, in [`EVENT_PICTURES`] order.
    pub fn named(&self) -> Vec<(&'static str, &RgbImage)> {
        let images = [
            Some(&self.onset),
            Some(&self.apex),
            Some(&self.offset),
            Some(&self.flow),
            Some(&self.cof),
            Some(&self.mm_cof),
            self.di_rise.as_ref(),
            self.di_fall.as_ref(),
        ];
        EVENT_PICTURES.into_iter().zip(images).filter_map(|(name, image)| Some((name, image?))).collect()
    }
}

/// The file stems of an event's pictures (`events/<id>/<stem>.png`), in the order shown.
pub const EVENT_PICTURES: [&str; 8] = ["onset", "apex", "offset", "flow", "cof", "mm_cof", "di_onset_apex", "di_apex_offset"];

/// A spotted event with what was made of it.
#[derive(Debug, Clone)]
pub struct AnalysedEvent {
    pub event: SpotEvent,
    pub aus: String,
    /// `None` for macro-expressions (the model knows micro-expressions only), without a model,
    /// or when the event could not be analysed (`problem` says why).
    pub recognition: Option<Recognition>,
    pub images: Option<EventImages>,
    pub problem: Option<String>,
    /// Time spent analysing the event.
    pub analysis_ms: f32,
}

impl AnalysedEvent {
    /// The event as the spotter found it, when it could not be analysed further.
    pub fn unanalysed(event: SpotEvent, problem: String) -> Self {
        let aus = guess_aus(&displacement_signals(&event), 0.05);
        Self { event, aus, recognition: None, images: None, problem: Some(problem), analysis_ms: 0.0 }
    }
}

/// The spotter's apex displacement as region signals, for the AU guess when no crops are left.
fn displacement_signals(event: &SpotEvent) -> crate::motion::RegionSignals {
    let mut signals = crate::motion::RegionSignals::default();
    for (slot, d) in signals.values.iter_mut().zip(event.apex_displacement) {
        *slot = crate::motion::RegionMotion { magnitude: d[0].hypot(d[1]), mean_u: d[0], mean_v: d[1] };
    }
    signals
}

/// Smallest regional movement (crop pixels) that the AU guess takes as a movement.
const AU_MIN_PX: f32 = 0.05;
/// Flow pictures never brighten noise below this magnitude (crop pixels).
const MIN_COLOUR_SCALE_PX: f32 = 0.5;

pub struct EventAnalyser {
    motion: MotionAnalyser,
    tvl1: TvL1Flow,
    recogniser: Option<Recogniser>,
}

impl EventAnalyser {
    /// `flow` draws the event's pictures and guesses its AUs: the method the frame path uses (its
    /// own instance, as this runs on the events thread). The MER input always uses Dual TV-L1,
    /// the flow the model was trained on.
    pub fn new(crop_size: usize, flow: Box<dyn FlowEstimator>, recogniser: Option<Recogniser>) -> Result<Self, RecognitionError> {
        Ok(Self { motion: MotionAnalyser::new(flow, crop_size), tvl1: TvL1Flow::new()?, recogniser })
    }

    pub fn has_model(&self) -> bool {
        self.recogniser.is_some()
    }

    pub fn analyse(&mut self, frames: EventFrames) -> AnalysedEvent {
        let started = Instant::now();
        let result = self.try_analyse(&frames);
        let mut analysed = match result {
            Ok(analysed) => analysed,
            Err(error) => AnalysedEvent::unanalysed(frames.event, error.to_string()),
        };
        analysed.analysis_ms = started.elapsed().as_secs_f32() * 1000.0;
        analysed
    }

    fn try_analyse(&mut self, frames: &EventFrames) -> Result<AnalysedEvent, RecognitionError> {
        let event = &frames.event;
        let missing = |what: &str| RecognitionError::MissingFrame(what.to_owned(), event.id);
        let onset = frames.onset_crop().ok_or_else(|| missing("onset"))?;
        let apex = frames.apex_crop().ok_or_else(|| missing("apex"))?;
        let offset = frames.offset_crop().ok_or_else(|| missing("offset"))?;

        let rise = self.motion.measure(onset, apex)?;
        let fall = self.motion.measure(apex, offset)?;
        let aus = guess_aus(&rise.regions, AU_MIN_PX);
        let cof = combined_flow(&rise.residual, &fall.residual);
        let scale = colour_scale(&rise.residual, MIN_COLOUR_SCALE_PX);
        let images = EventImages {
            onset: RgbImage::from_gray_mat(onset)?,
            apex: RgbImage::from_gray_mat(apex)?,
            offset: RgbImage::from_gray_mat(offset)?,
            flow: flow_colour(&rise.residual, scale),
            cof: flow_colour(&cof, scale),
            mm_cof: flow_colour(&magnitude_modulated(&cof), scale),
            di_rise: dynamic_image(&frames.span(event.onset.index, event.apex.index))?,
            di_fall: dynamic_image(&frames.span(event.apex.index, event.offset.index))?,
            colour_scale_px: scale,
        };

        let mut problem = None;
        let recognition = match (&mut self.recogniser, event.kind) {
            (Some(recogniser), EventKind::Micro) => {
                let input = canonical_mer_input(&mut self.tvl1, onset, apex)?;
                match recogniser.probabilities(&input) {
                    Ok(p) => Some(Recognition::from_probabilities(p)),
                    Err(error) => {
                        problem = Some(error.to_string());
                        None
                    }
                }
            }
            _ => None,
        };
        Ok(AnalysedEvent { event: event.clone(), aus, recognition, images: Some(images), problem, analysis_ms: 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use opencv::core::{CV_8UC1, Mat, Scalar};
    use opencv::prelude::*;

    use super::*;
    use crate::motion::{FarnebackFlow, MotionError, MotionField};
    use crate::spotting::{EventMark, SpotEvent};

    /// Counts the pairs it is asked for, then lets Farneback answer.
    struct CountingFlow(Arc<AtomicUsize>);

    impl FlowEstimator for CountingFlow {
        fn name(&self) -> &str {
            "counting"
        }

        fn estimate(&mut self, previous: &Mat, current: &Mat) -> Result<MotionField, MotionError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            FarnebackFlow.estimate(previous, current)
        }
    }

    fn textured(shift: f64) -> Mat {
        let mut mat = Mat::new_rows_cols_with_default(128, 128, CV_8UC1, Scalar::all(0.0)).unwrap();
        for y in 0..128 {
            for x in 0..128 {
                let (fx, fy) = (x as f64 - shift, y as f64);
                let value = 128.0 + 60.0 * (0.21 * fx + 0.13 * fy).sin() + 40.0 * (0.17 * fx - 0.29 * fy).cos();
                *mat.at_2d_mut::<u8>(y, x).unwrap() = value.round() as u8;
            }
        }
        mat
    }

    #[test]
    fn event_pictures_use_the_flow_the_pipeline_chose() {
        let mark = |index: u64| EventMark { index, seconds: index as f64 / 30.0 };
        let event = SpotEvent {
            id: 1,
            kind: EventKind::Macro,
            onset: mark(0),
            apex: mark(1),
            offset: mark(2),
            confidence: 0.5,
            peak_score: 9.0,
            apex_displacement: [[0.0; 2]; 8],
        };
        let crops = [(0, 0.0), (1, 1.0), (2, 0.0)].map(|(i, shift)| (i, i as f64 / 30.0, textured(shift)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut analyser = EventAnalyser::new(128, Box::new(CountingFlow(calls.clone())), None).unwrap();
        let analysed = analyser.analyse(EventFrames { event, crops: crops.into() });
        assert_eq!(analysed.problem, None);
        assert!(analysed.images.is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2, "onset->apex and apex->offset, both by the given flow");
    }
}
