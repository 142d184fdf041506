//! The review playhead: a position in stream seconds that plays at real speed, pauses, seeks
//! and stops at the end.

#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    position: f64,
    start: f64,
    end: f64,
    playing: bool,
}

impl Playback {
    /// A paused playhead at `start`, over `start..=end` (stream seconds).
    pub fn new(start: f64, end: f64) -> Self {
        Self { position: start, start, end: end.max(start), playing: false }
    }

    pub fn position(&self) -> f64 {
        self.position
    }

    pub fn span(&self) -> (f64, f64) {
        (self.start, self.end)
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Play from here (from the start again when at the end), or pause.
    pub fn toggle(&mut self) {
        if !self.playing && self.position >= self.end {
            self.position = self.start;
        }
        self.playing = !self.playing;
    }

    pub fn pause(&mut self) {
        self.playing = false;
    }

    pub fn seek(&mut self, seconds: f64) {
        self.position = if seconds.is_finite() { seconds.clamp(self.start, self.end) } else { self.start };
    }

    /// Moves on by `elapsed` wall seconds while playing; stops at the end.
    pub fn advance(&mut self, elapsed: f64) {
        if !self.playing || elapsed.is_nan() || elapsed <= 0.0 {
            return;
        }
        self.position = (self.position + elapsed).min(self.end);
        if self.position >= self.end {
            self.playing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_pauses_seeks_and_stops_at_the_end() {
        let mut playback = Playback::new(0.0, 2.0);
        playback.advance(0.5);
        assert_eq!(playback.position(), 0.0, "paused does not move");
        playback.toggle();
        playback.advance(0.5);
        assert!(playback.is_playing() && (playback.position() - 0.5).abs() < 1e-9);
        playback.seek(1.9);
        playback.advance(0.5);
        assert_eq!(playback.position(), 2.0);
        assert!(!playback.is_playing(), "stops at the end");
        playback.toggle();
        assert_eq!(playback.position(), 0.0, "playing again from the end starts over");
        playback.seek(-4.0);
        assert_eq!(playback.position(), 0.0);
        playback.seek(f64::NAN);
        assert_eq!(playback.position(), 0.0);
        playback.pause();
        assert!(!playback.is_playing());
    }
}
