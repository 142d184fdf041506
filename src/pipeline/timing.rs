//! Per-stage timing: each stage records its durations into a small fixed-size histogram that the
//! CLI summary, `glimpse bench` and (later) the window's status bar all read.

use std::sync::Mutex;
use std::time::Duration;

/// Log-spaced buckets from 1 µs to 100 s, 20 per decade: percentiles within ±6 %, in a few
/// hundred bytes whatever the session length.
const BUCKETS_PER_DECADE: usize = 20;
const DECADES: usize = 8;
const BUCKETS: usize = BUCKETS_PER_DECADE * DECADES;
const MIN_SECONDS: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
    /// Samples below 1 µs, counted in the first bucket; above 100 s in the last.
    count: u64,
    sum_seconds: f64,
    max_seconds: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: [0; BUCKETS], count: 0, sum_seconds: 0.0, max_seconds: 0.0 }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = ((seconds.max(MIN_SECONDS) / MIN_SECONDS).log10() * BUCKETS_PER_DECADE as f64) as usize;
        self.counts[bucket.min(BUCKETS - 1)] += 1;
        self.count += 1;
        self.sum_seconds += seconds;
        self.max_seconds = self.max_seconds.max(seconds);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.sum_seconds / self.count as f64)
    }

    pub fn max(&self) -> Duration {
        Duration::from_secs_f64(self.max_seconds)
    }

    /// The `q`-quantile (0..=1), at the geometric centre of its bucket, capped by the maximum.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                if bucket == BUCKETS - 1 {
                    // The overflow bucket has no centre: its samples are only bounded by the max.
                    return self.max();
                }
                let centre = MIN_SECONDS * 10f64.powf((bucket as f64 + 0.5) / BUCKETS_PER_DECADE as f64);
                return Duration::from_secs_f64(centre.min(self.max_seconds));
            }
        }
        self.max()
    }

    pub fn summary(&self) -> TimingSummary {
        TimingSummary {
            count: self.count,
            mean_ms: self.mean().as_secs_f64() * 1e3,
            p50_ms: self.quantile(0.50).as_secs_f64() * 1e3,
            p95_ms: self.quantile(0.95).as_secs_f64() * 1e3,
            p99_ms: self.quantile(0.99).as_secs_f64() * 1e3,
            max_ms: self.max_seconds * 1e3,
        }
    }
}

/// A snapshot of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TimingSummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl TimingSummary {
    /// Several runs' summaries as one: the count-weighted mean, and the worst run's percentiles
    /// and maximum (an upper bound, since the histograms themselves are gone). `None` when no
    /// run counted anything.
    pub fn merge(runs: &[TimingSummary]) -> Option<TimingSummary> {
        let count: u64 = runs.iter().map(|r| r.count).sum();
        if count == 0 {
            return None;
        }
        let worst = |f: fn(&TimingSummary) -> f64| runs.iter().filter(|r| r.count > 0).map(f).fold(0.0, f64::max);
        Some(TimingSummary {
            count,
            mean_ms: runs.iter().map(|r| r.mean_ms * r.count as f64).sum::<f64>() / count as f64,
            p50_ms: worst(|r| r.p50_ms),
            p95_ms: worst(|r| r.p95_ms),
            p99_ms: worst(|r| r.p99_ms),
            max_ms: worst(|r| r.max_ms),
        })
    }
}

/// A named stage's histogram, shared between the stage's thread and its readers.
#[derive(Debug)]
pub struct StageTimer {
    name: &'static str,
    histogram: Mutex<LatencyHistogram>,
}

impl StageTimer {
    pub fn new(name: &'static str) -> Self {
        Self { name, histogram: Mutex::new(LatencyHistogram::default()) }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn record(&self, duration: Duration) {
        self.histogram.lock().unwrap_or_else(|p| p.into_inner()).record(duration);
    }

    pub fn summary(&self) -> TimingSummary {
        self.histogram.lock().unwrap_or_else(|p| p.into_inner()).summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_within_a_bucket() {
        let mut histogram = LatencyHistogram::default();
        for micros in 1..=1000u64 {
            histogram.record(Duration::from_micros(micros * 10));
        }
        let summary = histogram.summary();
        assert_eq!(summary.count, 1000);
        assert!((summary.mean_ms - 5.005).abs() < 1e-6, "{summary:?}");
        for (q, expected_ms) in [(0.5, 5.0), (0.95, 9.5), (0.99, 9.9)] {
            let got = histogram.quantile(q).as_secs_f64() * 1e3;
            assert!((got / expected_ms - 1.0).abs() < 0.07, "q{q}: {got} vs {expected_ms}");
        }
        assert!((summary.max_ms - 10.0).abs() < 1e-9);
    }

    #[test]
    fn empty_and_extreme_samples() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile(0.5), Duration::ZERO);
        histogram.record(Duration::from_nanos(10));
        histogram.record(Duration::from_secs(1000));
        assert_eq!(histogram.count(), 2);
        assert_eq!(histogram.quantile(1.0), Duration::from_secs(1000));
    }
}
