//! The live window, for real: the built binary under Xvfb on the synthetic face. A screenshot
//! taken while it runs must show the video (not a blank or one-colour image) and the overlays;
//! the window must close by itself after `--quit-after` and exit 0, having recorded frames.csv
//! and events.csv through `--out`.
//!
//! Needs `Xvfb` and ImageMagick's `import` (scripts/setup.sh installs both); skips with a message
//! without them. `GLIMPSE_SCREENSHOT=path.png` keeps the screenshot (the README's comes from it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use glimpse::ui::overlays::FACE_BOX_COLOUR;
use glimpse::ui::review::timeline::MICRO_COLOUR;
use opencv::core::Vec3b;
use opencv::imgcodecs;
use opencv::prelude::*;

#[path = "common/session.rs"]
mod session;

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// An Xvfb server on a free display, ended (by its own pid) when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let base = 90 + (std::process::id() % 400);
        let number = (base..base + 100)
            .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .expect("a free X display number");
        let child = Command::new("Xvfb")
            .args([format!(":{number}").as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let started = Instant::now();
        while !socket.exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(socket.exists(), "Xvfb :{number} did not come up");
        Xvfb { child, display: format!(":{number}") }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a screenshot shows.
#[derive(Debug)]
struct Shot {
    distinct_colours: usize,
    luminance_std: f64,
    face_box_pixels: usize,
    video_distinct_colours: usize,
    /// Pixels of the micro-event colour along the bottom (review's timeline).
    timeline_micro_pixels: usize,
}

/// Takes a screenshot of the whole display into `path` and measures it.
fn screenshot(display: &str, path: &Path) -> Shot {
    let taken = Command::new("import").args(["-display", display, "-window", "root"]).arg(path).status().expect("import runs");
    assert!(taken.success(), "import failed");
    analyse(path)
}

fn analyse(path: &Path) -> Shot {
    let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).expect("the screenshot reads");
    assert!(!image.empty(), "empty screenshot {}", path.display());
    let (w, h) = (image.cols(), image.rows());
    let mut colours = std::collections::HashSet::new();
    let mut video_colours = std::collections::HashSet::new();
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    let mut face_box_pixels = 0;
    let mut timeline_micro_pixels = 0;
    let near = |a: u8, b: u8| (a as i32 - b as i32).abs() <= 30;
    for y in 0..h {
        for x in 0..w {
            let p: Vec3b = *image.at_2d::<Vec3b>(y, x).unwrap();
            let (b, g, r) = (p[0], p[1], p[2]);
            let key = (r >> 3, g >> 3, b >> 3);
            colours.insert(key);
            // The video sits left of the side panel, under the controls.
            if x < w * 2 / 3 && y > h / 8 && y < h * 7 / 8 {
                video_colours.insert(key);
            }
            let l = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
            sum += l;
            sum2 += l * l;
            n += 1.0;
            if near(r, FACE_BOX_COLOUR.r()) && near(g, FACE_BOX_COLOUR.g()) && near(b, FACE_BOX_COLOUR.b()) {
                face_box_pixels += 1;
            }
            if y > h * 7 / 8 && near(r, MICRO_COLOUR.r()) && near(g, MICRO_COLOUR.g()) && near(b, MICRO_COLOUR.b()) {
                timeline_micro_pixels += 1;
            }
        }
    }
    let mean = sum / n;
    Shot {
        distinct_colours: colours.len(),
        luminance_std: (sum2 / n - mean * mean).max(0.0).sqrt(),
        face_box_pixels,
        video_distinct_colours: video_colours.len(),
        timeline_micro_pixels,
    }
}

fn good(shot: &Shot) -> bool {
    shot.distinct_colours > 500 && shot.video_distinct_colours > 300 && shot.luminance_std > 20.0 && shot.face_box_pixels > 300
}

/// Waits for the app to close by itself (`--quit-after`) by `deadline`, then checks it exited 0
/// without a panic.
fn expect_clean_exit(mut app: std::process::Child, deadline: Instant, what: &str) {
    let status = loop {
        if let Some(status) = app.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            panic!("{what} did not close after --quit-after");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = app.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Screenshots of `display` every `interval`, from `first_after` after `started` until one is
/// `good` or `until` has passed since `started`; returns the last one, whose file is copied to
/// where the environment variable `keep_var` says, if set. A window that exits early fails the test.
struct Watch<'a> {
    what: &'a str,
    display: &'a str,
    path: &'a Path,
    first_after: Duration,
    interval: Duration,
    until: Duration,
    keep_var: &'a str,
}

impl Watch<'_> {
    fn shot_until(&self, app: &mut Child, started: Instant, good: impl Fn(&Shot) -> bool) -> Shot {
        std::thread::sleep(self.first_after);
        let mut best: Option<Shot> = None;
        // a busy machine may take a while to draw everything
        while started.elapsed() < self.until {
            if let Ok(Some(status)) = app.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = app.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("{} exited early ({status}): {stderr}", self.what);
            }
            let shot = screenshot(self.display, self.path);
            let done = good(&shot);
            best = Some(shot);
            if done {
                break;
            }
            std::thread::sleep(self.interval);
        }
        if let Some(keep) = std::env::var_os(self.keep_var) {
            std::fs::copy(self.path, &keep).expect("screenshot kept");
        }
        best.expect("a screenshot")
    }
}

#[test]
fn window_shows_video_and_overlays_then_quits_cleanly() {
    if !have("Xvfb") || !have("import") {
        eprintln!("SKIPPED: Xvfb and ImageMagick's import are needed (scripts/setup.sh installs them)");
        return;
    }
    let xvfb = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("rec");
    let quit_after = 20.0;
    let mut app = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["live", "--source", "synthetic", "--quit-after", &quit_after.to_string(), "--out"])
        .arg(&record)
        .env("DISPLAY", &xvfb.display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("GLIMPSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("glimpse starts");
    let started = Instant::now();
    let shot_path = dir.path().join("shot.png");
    let watch = Watch {
        what: "glimpse",
        display: &xvfb.display,
        path: &shot_path,
        first_after: Duration::from_secs(6),
        interval: Duration::from_secs(2),
        until: Duration::from_secs_f64(quit_after - 3.0),
        keep_var: "GLIMPSE_SCREENSHOT",
    };
    let shot = watch.shot_until(&mut app, started, good);
    eprintln!("screenshot: {shot:?}");
    assert!(shot.distinct_colours > 500, "blank or flat screenshot: {shot:?}");
    assert!(shot.video_distinct_colours > 300, "no video drawn: {shot:?}");
    assert!(shot.luminance_std > 20.0, "one-colour screenshot: {shot:?}");
    assert!(shot.face_box_pixels > 300, "face box overlay not drawn: {shot:?}");

    // It closes by itself after --quit-after, cleanly.
    expect_clean_exit(app, started + Duration::from_secs_f64(quit_after + 30.0), "the window");

    // --out recorded frames.csv and events.csv while the window ran.
    let rows = std::fs::read_to_string(record.join("frames.csv")).expect("frames.csv written");
    let lines: Vec<&str> = rows.lines().collect();
    assert!(lines[0].starts_with("frame,face_id,timestamp,confidence,success"), "{}", lines[0]);
    assert!(lines.len() > 60, "only {} rows recorded", lines.len() - 1);
    let events = std::fs::read_to_string(record.join("events.csv")).expect("events.csv written");
    assert!(events.starts_with("event_id,type,onset_frame"), "{events}");
    // ... and the video, one frame per row, closed cleanly when the window closed.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(record.join("video.mp4"))
        .output()
        .expect("ffprobe runs");
    let video_frames: usize = String::from_utf8_lossy(&probe.stdout).trim().parse().expect("ffprobe counts the video's frames");
    assert_eq!(video_frames, lines.len() - 1, "video frames vs frames.csv rows");
    let session = std::fs::read_to_string(record.join("session.json")).expect("session.json written");
    assert!(session.contains(r#""state": "completed""#), "{session}");
    drop(xvfb);
}

#[test]
fn review_window_shows_the_video_and_the_timeline_then_quits_cleanly() {
    if !have("Xvfb") || !have("import") {
        eprintln!("SKIPPED: Xvfb and ImageMagick's import are needed (scripts/setup.sh installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = session::recorded_session(dir.path());
    let events_before = std::fs::read(folder.join("events.csv")).unwrap();
    let xvfb = Xvfb::start();
    let quit_after = 15.0;
    let mut app = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["review", folder.to_str().unwrap(), "--quit-after", &quit_after.to_string()])
        .env("DISPLAY", &xvfb.display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("GLIMPSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("glimpse review starts");
    let started = Instant::now();
    let shot_path = dir.path().join("review.png");
    let good = |shot: &Shot| shot.video_distinct_colours > 300 && shot.face_box_pixels > 300 && shot.timeline_micro_pixels > 100;
    let watch = Watch {
        what: "glimpse review",
        display: &xvfb.display,
        path: &shot_path,
        first_after: Duration::from_secs(4),
        interval: Duration::from_secs(1),
        until: Duration::from_secs_f64(quit_after - 2.0),
        keep_var: "GLIMPSE_REVIEW_SCREENSHOT",
    };
    let shot = watch.shot_until(&mut app, started, good);
    eprintln!("review screenshot: {shot:?}");
    assert!(shot.video_distinct_colours > 300, "no video drawn: {shot:?}");
    assert!(shot.face_box_pixels > 300, "the face box is not redrawn from frames.csv: {shot:?}");
    assert!(shot.timeline_micro_pixels > 100, "no micro events on the timeline: {shot:?}");

    expect_clean_exit(app, started + Duration::from_secs_f64(quit_after + 30.0), "the review window");
    assert_eq!(std::fs::read(folder.join("events.csv")).unwrap(), events_before, "nothing edited, nothing rewritten");
    drop(xvfb);
}

#[test]
fn live_without_a_display_runs_headless() {
    let output = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["live", "--source", "synthetic", "--max-seconds", "1"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("glimpse runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("no display") && stderr.contains("frames"), "{stderr}");
}
