//! What the whole process costs: CPU time (`getrusage`) and resident memory (`/proc/self/status`),
//! for `glimpse bench` and the memory tests.

use std::time::{Duration, Instant};

/// A reading of the process's CPU time and memory.
#[derive(Debug, Clone, Copy)]
pub struct UsageSample {
    pub at: Instant,
    /// User plus system CPU time of every thread so far.
    pub cpu: Duration,
    /// Resident memory now (`VmRSS`), bytes; `None` where `/proc` cannot tell.
    pub rss_bytes: Option<u64>,
    /// The most resident memory since the start or since [`reset_peak_rss`] (`VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
}

impl UsageSample {
    pub fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self {
            at: Instant::now(),
            cpu: process_cpu_time(),
            rss_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024),
            peak_rss_bytes: status_kib(&status, "VmHWM:").map(|kib| kib * 1024),
        }
    }

    /// CPU use between `earlier` and this sample, in percent of one core (200 % = two cores
    /// busy throughout).
    pub fn cpu_percent_since(&self, earlier: &UsageSample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * self.cpu.saturating_sub(earlier.cpu).as_secs_f64() / wall
    }
}

fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we own; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: zero-initialised and filled by a successful getrusage.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// `Key:   1234 kB` from `/proc/self/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Starts the peak-memory (`VmHWM`) count again from the current resident memory, so that each
/// phase of a benchmark reports its own peak. False where the kernel does not allow it; the peak
/// then counts from the start of the process.
pub fn reset_peak_rss() -> bool {
    // "5" resets the peak RSS (Linux >= 4.0, proc(5)).
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`): a speed figure means little when
/// the machine was busy with something else.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// Least-squares slope of `values` over `xs` (units of value per unit of x); `None` with fewer
/// than two distinct xs.
pub fn slope(xs: &[f64], values: &[f64]) -> Option<f64> {
    let n = xs.len().min(values.len());
    if n < 2 {
        return None;
    }
    let mean_x = xs[..n].iter().sum::<f64>() / n as f64;
    let mean_y = values[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in xs[..n].iter().zip(&values[..n]) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = UsageSample::now();
        assert!(before.rss_bytes.is_some_and(|rss| rss > 1 << 20), "{before:?}");
        assert!(before.peak_rss_bytes >= before.rss_bytes);
        // Burn some CPU: the reading must move.
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = UsageSample::now();
        assert!(after.cpu > before.cpu, "{before:?} -> {after:?}");
        assert!(after.cpu_percent_since(&before) > 10.0);
        assert_eq!(status_kib("VmHWM:\t  2048 kB\n", "VmHWM:"), Some(2048));
    }

    #[test]
    fn slope_of_a_line_and_of_too_little() {
        assert_eq!(slope(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]), Some(2.0));
        assert_eq!(slope(&[1.0], &[1.0]), None);
        assert_eq!(slope(&[1.0, 1.0], &[1.0, 2.0]), None);
    }
}
