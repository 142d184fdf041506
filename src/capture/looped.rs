//! A finite source played again and again, for soak runs: reopened at its end, with frame
//! indices and timestamps running on as if it were one endless stream.

use super::{CaptureError, Frame, Source, SourceInfo};

/// Opens a fresh copy of the looped source.
pub type Reopen = Box<dyn FnMut() -> Result<Box<dyn Source>, CaptureError> + Send>;

pub struct LoopedSource {
    reopen: Reopen,
    current: Box<dyn Source>,
    info: SourceInfo,
    /// Added to the current pass's indices and timestamps.
    index_offset: u64,
    seconds_offset: f64,
    /// The last frame handed out (index, seconds), after the offsets.
    last: Option<(u64, f64)>,
    frames_this_pass: u64,
    passes: u64,
}

impl LoopedSource {
    pub fn new(mut reopen: Reopen) -> Result<Self, CaptureError> {
        let current = reopen()?;
        let mut info = current.info().clone();
        info.name = format!("{} (looped)", info.name);
        info.frame_count = None;
        Ok(Self { reopen, current, info, index_offset: 0, seconds_offset: 0.0, last: None, frames_this_pass: 0, passes: 1 })
    }

    /// How many times the source has been started (1 during the first pass).
    pub fn passes(&self) -> u64 {
        self.passes
    }
}

impl Source for LoopedSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        self.current.is_live()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut frame = match self.current.next_frame()? {
            Some(frame) => frame,
            // A pass that gave nothing would loop forever: an empty source ends the stream.
            None if self.frames_this_pass == 0 => return Ok(None),
            None => {
                let Some((last_index, last_seconds)) = self.last else {
                    return Ok(None);
                };
                let fps = if self.info.nominal_fps > 0.0 { self.info.nominal_fps } else { 30.0 };
                self.current = (self.reopen)()?;
                self.passes += 1;
                self.frames_this_pass = 0;
                self.index_offset = last_index + 1;
                self.seconds_offset = last_seconds + 1.0 / fps;
                match self.current.next_frame()? {
                    Some(frame) => frame,
                    None => return Ok(None),
                }
            }
        };
        if self.frames_this_pass == 0 {
            // Each pass's own clock starts wherever it starts; the stream's runs on.
            self.seconds_offset -= frame.time.seconds;
        }
        frame.index += self.index_offset;
        frame.time.seconds += self.seconds_offset;
        self.frames_this_pass += 1;
        self.last = Some((frame.index, frame.time.seconds));
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::SyntheticSource;
    use crate::synth::SynthSpec;

    #[test]
    fn indices_and_timestamps_run_on_across_passes() {
        let spec = SynthSpec { width: 160, height: 120, seconds: 0.2, micro_events: 0, macro_events: 0, ..SynthSpec::default() };
        let per_pass = SyntheticSource::new(spec.clone()).unwrap().info().frame_count.unwrap();
        let mut looped =
            LoopedSource::new(Box::new(move || Ok(Box::new(SyntheticSource::new(spec.clone())?) as Box<dyn Source>))).unwrap();
        assert_eq!(looped.info().frame_count, None);
        let mut previous: Option<(u64, f64)> = None;
        for expected_index in 0..per_pass * 3 {
            let frame = looped.next_frame().unwrap().expect("a looped source never ends");
            assert_eq!(frame.index, expected_index);
            if let Some((_, seconds)) = previous {
                let step = frame.time.seconds - seconds;
                assert!((step - 1.0 / 30.0).abs() < 1e-6, "frame {expected_index}: step {step}");
            }
            previous = Some((frame.index, frame.time.seconds));
        }
        assert_eq!(looped.passes(), 3);
    }
}
