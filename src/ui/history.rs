//! Bounded recent history for the plots and the status bar: the motion timeline (last seconds),
//! the spotted intervals, latency percentiles and rates.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One analysed frame on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Stream seconds.
    pub t: f64,
    /// The motion signal (crop pixels); `None` without a measured face.
    pub motion: Option<f32>,
    pub threshold: f32,
    /// Class probabilities (negative, positive, surprise) in force at this frame.
    pub probabilities: Option<[f32; 3]>,
}

/// A spotted interval on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub start: f64,
    pub end: f64,
    pub micro: bool,
}

/// The last `window` seconds of samples and intervals.
#[derive(Debug, Clone)]
pub struct Timeline {
    window: f64,
    samples: VecDeque<Sample>,
    intervals: VecDeque<Interval>,
}

impl Timeline {
    pub fn new(window_seconds: f64) -> Self {
        Self { window: window_seconds.max(0.1), samples: VecDeque::new(), intervals: VecDeque::new() }
    }

    pub fn window(&self) -> f64 {
        self.window
    }

    /// Adds a sample; time going backwards (a source restarted or looped) clears the history.
    pub fn push(&mut self, sample: Sample) {
        if self.samples.back().is_some_and(|last| sample.t < last.t) {
            self.clear();
        }
        self.samples.push_back(sample);
        self.trim();
    }

    pub fn push_interval(&mut self, interval: Interval) {
        self.intervals.push_back(interval);
        self.trim();
    }

    fn trim(&mut self) {
        let Some(now) = self.latest_time() else { return };
        let oldest = now - self.window;
        while self.samples.front().is_some_and(|s| s.t < oldest) {
            self.samples.pop_front();
        }
        while self.intervals.front().is_some_and(|i| i.end < oldest) {
            self.intervals.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.samples.clear();
        self.intervals.clear();
    }

    pub fn latest_time(&self) -> Option<f64> {
        self.samples.back().map(|s| s.t)
    }

    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    pub fn intervals(&self) -> impl Iterator<Item = &Interval> {
        self.intervals.iter()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// Percentiles over the most recent latencies.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    values: VecDeque<f32>,
    capacity: usize,
}

impl LatencyWindow {
    pub fn new(capacity: usize) -> Self {
        Self { values: VecDeque::with_capacity(capacity), capacity: capacity.max(1) }
    }

    pub fn push(&mut self, latency_ms: f32) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(latency_ms);
    }

    /// The `q` quantile (0..1), nearest rank; `None` when empty.
    pub fn quantile(&self, q: f32) -> Option<f32> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted: Vec<f32> = self.values.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f32).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }

    pub fn clear(&mut self) {
        self.values.clear();
    }
}

/// Events per second from a growing counter, re-measured about once a second.
#[derive(Debug, Clone)]
pub struct RateMeter {
    since: Option<(Instant, u64)>,
    rate: f64,
}

impl Default for RateMeter {
    fn default() -> Self {
        Self { since: None, rate: 0.0 }
    }
}

impl RateMeter {
    pub fn update(&mut self, now: Instant, count: u64) -> f64 {
        match self.since {
            None => self.since = Some((now, count)),
            Some((then, previous)) => {
                let elapsed = now.saturating_duration_since(then);
                if count < previous {
                    self.since = Some((now, count));
                } else if elapsed >= Duration::from_millis(1000) {
                    self.rate = (count - previous) as f64 / elapsed.as_secs_f64();
                    self.since = Some((now, count));
                }
            }
        }
        self.rate
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64) -> Sample {
        Sample { t, motion: Some(t as f32), threshold: 0.1, probabilities: None }
    }

    #[test]
    fn timeline_keeps_the_last_window() {
        let mut timeline = Timeline::new(10.0);
        for i in 0..=600 {
            timeline.push(sample(i as f64 / 30.0));
        }
        let first = timeline.samples().next().unwrap().t;
        assert!((first - 10.0).abs() < 1e-9, "{first}");
        assert_eq!(timeline.len(), 301);
        timeline.push_interval(Interval { start: 1.0, end: 2.0, micro: true });
        assert_eq!(timeline.intervals().count(), 0, "too old to keep");
        timeline.push_interval(Interval { start: 18.0, end: 19.0, micro: true });
        assert_eq!(timeline.intervals().count(), 1);
        timeline.push(sample(0.0));
        assert_eq!(timeline.len(), 1, "time going back starts again");
        assert_eq!(timeline.intervals().count(), 0);
    }

    #[test]
    fn latency_quantiles() {
        let mut window = LatencyWindow::new(100);
        assert_eq!(window.quantile(0.5), None);
        for v in 1..=200 {
            window.push(v as f32);
        }
        assert_eq!(window.quantile(0.5), Some(150.0));
        assert_eq!(window.quantile(0.95), Some(195.0));
        assert_eq!(window.quantile(1.0), Some(200.0));
    }

    #[test]
    fn rate_meter() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        assert_eq!(meter.update(start, 0), 0.0);
        assert_eq!(meter.update(start + Duration::from_millis(500), 15), 0.0);
        let rate = meter.update(start + Duration::from_millis(1000), 30);
        assert!((rate - 30.0).abs() < 1e-9);
        assert_eq!(meter.update(start + Duration::from_millis(1100), 0), 30.0, "a reset counter restarts");
    }
}
