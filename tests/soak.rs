//! Memory under pressure: a results reader that stops reading (drops counted, queues bounded,
//! no memory growth) and a short soak (resident memory flat after warm-up). Bounds are on memory,
//! never on time. The tests here take turns: each reads the whole process's memory.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use glimpse::capture::{SourceSpec, UnpluggedCamera};
use glimpse::commands::StopFlag;
use glimpse::commands::bench::{SoakLength, SoakOptions, soak};
use glimpse::pipeline::usage::UsageSample;
use glimpse::pipeline::{FrameAnalysis, OutputPolicy, Pipeline, PipelineConfig, PipelineStats};
use glimpse::synth::SynthSpec;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: f64 = 1024.0 * 1024.0;
/// The channel of finished results (`Pipeline`'s own bound).
const RESULTS_CAPACITY: usize = 64;

fn rss_mib() -> f64 {
    UsageSample::now().rss_bytes.expect("/proc/self/status has VmRSS") as f64 / MIB
}

/// A camera that never stops: frames as fast as they can be made, stamped on the capture clock.
fn endless_camera() -> Box<UnpluggedCamera> {
    Box::new(UnpluggedCamera::new(SynthSpec { seconds: 20.0, ..SynthSpec::default() }, u64::MAX).unwrap())
}

/// Waits until every frame read has been analysed or dropped at the ring, and every analysed
/// frame's result is waiting or counted as dropped: the analysis thread counts a frame before
/// it hands the result on (a hang guard, not a speed limit).
fn wait_until_settled(pipeline: &Pipeline, frames: u64) -> PipelineStats {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stats = pipeline.stats();
        let handed_on = pipeline.results().len() as u64 + stats.output_dropped;
        if stats.frames_read == frames
            && stats.frames_analysed + stats.ring.dropped == frames
            && handed_on == stats.frames_analysed
        {
            return stats;
        }
        assert!(Instant::now() < deadline, "the pipeline never settled: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_reader_that_stops_reading_costs_counted_drops_not_memory() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const FRAMES: u64 = 900;
    let config = PipelineConfig { output: OutputPolicy::DropOldest, max_frames: Some(FRAMES), ..PipelineConfig::default() };
    let pipeline = Pipeline::start(endless_camera(), config).unwrap();
    // Nobody reads while the first fifth is analysed: the warm-up (buffers, allocator arenas).
    let deadline = Instant::now() + Duration::from_secs(600);
    while pipeline.stats().frames_analysed < FRAMES / 5 {
        assert!(Instant::now() < deadline, "no progress: {:?}", pipeline.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let warm = rss_mib();
    let stats = wait_until_settled(&pipeline, FRAMES);
    let grown = rss_mib() - warm;

    // What waits is bounded by the queues' capacities, whatever the length of the stall...
    assert_eq!(pipeline.results().len(), RESULTS_CAPACITY, "{stats:?}");
    assert!(stats.ring.high_water <= stats.ring.capacity);
    // ...every result that did not fit is counted...
    assert_eq!(stats.output_dropped, stats.frames_analysed - RESULTS_CAPACITY as u64, "{stats:?}");
    // ...and the memory of 700 undelivered frames (over 600 MiB as images) did not pile up.
    assert!(grown < 40.0, "resident memory grew by {grown:.1} MiB while the reader stalled");

    // The reader comes back: the newest results are there, in order, ending with the last frame.
    let waiting: Vec<FrameAnalysis> = pipeline.results().try_iter().collect();
    assert_eq!(waiting.len(), RESULTS_CAPACITY);
    assert!(waiting.windows(2).all(|pair| pair[0].index < pair[1].index));
    let report = pipeline.finish().unwrap();
    assert!(report.capture_error.is_none());
    assert_eq!(report.stats.frames_analysed, stats.frames_analysed);
}

#[test]
fn a_lossless_reader_that_stalls_holds_the_camera_back_at_the_ring_only() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const FRAMES: u64 = 600;
    let config = PipelineConfig { output: OutputPolicy::Lossless, max_frames: Some(FRAMES), ..PipelineConfig::default() };
    let pipeline = Pipeline::start(endless_camera(), config).unwrap();
    // Stall until the camera has delivered everything: the analysis waits on the reader, and
    // the camera (which never waits) loses frames at the ring instead, counted.
    let deadline = Instant::now() + Duration::from_secs(600);
    while pipeline.stats().frames_read < FRAMES {
        assert!(Instant::now() < deadline, "the camera stalled: {:?}", pipeline.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered: Vec<FrameAnalysis> = pipeline.results().iter().collect();
    let report = pipeline.finish().unwrap();
    let stats = report.stats;
    assert!(stats.ring.dropped > 0, "a stalled lossless reader must cost frames at the ring: {stats:?}");
    assert_eq!(stats.output_dropped, 0, "a lossless reader loses nothing after the ring");
    assert_eq!(delivered.len() as u64, stats.frames_analysed);
    assert_eq!(stats.frames_analysed + stats.ring.dropped, FRAMES, "every frame is analysed or counted as dropped");
    assert!(delivered.windows(2).all(|pair| pair[0].index < pair[1].index));
}

#[test]
fn memory_stays_flat_over_a_soak() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Three passes over a 20-s synthetic face with its events, as fast as it goes: the memory
    // claim is per frame processed, whatever the machine's speed.
    let options = SoakOptions {
        input: SourceSpec::Synthetic,
        synth: SynthSpec::default(),
        length: SoakLength::Frames(1800),
        samples: 9,
        paced: false,
    };
    let report = soak(&options, &StopFlag::default(), |_| {}).unwrap();
    assert_eq!(report.samples.len(), 9, "{:?}", report.samples);
    let after_warm_up = &report.samples[1..];
    let low = after_warm_up.iter().map(|s| s.rss_mib).fold(f64::INFINITY, f64::min);
    let high = after_warm_up.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    assert_eq!(report.stats.frames_analysed, 1800);
    assert!(high - low < 40.0, "resident memory moved by {:.1} MiB after warm-up: {:?}", high - low, report.samples);
    assert!(report.stats.spotter.events > 0, "the soak spotted events, so their analysis was exercised too");
}
