//! The session recorder end to end, with the real binary, FFmpeg's encoder and ffprobe: the
//! files of a recording, the video in step with frames.csv, real (irregular) timestamps, a kill
//! in the middle, a file-size limit, a slow disk, private files, and no network.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use glimpse::recording::VideoWriter;
use opencv::core::{CV_8UC3, Mat, Scalar};

#[path = "common/video.rs"]
mod video;

fn glimpse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glimpse"))
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `frames.csv` as (header, rows); every row must have the header's number of fields.
fn read_frames_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<Vec<String>> =
        reader.records().map(|r| r.expect("every row is complete").iter().map(String::from).collect()).collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "a row with missing fields");
    }
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn timestamps(path: &Path) -> Vec<f64> {
    let (header, rows) = read_frames_csv(path);
    let at = column(&header, "timestamp");
    rows.iter().map(|row| row[at].parse().unwrap()).collect()
}

fn session_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("session.json")).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_recorded_session_has_its_files_and_one_video_frame_per_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("session");
    let output = run(glimpse().args(["analyse", "synthetic", "--seconds", "16", "--seed", "4", "--record", "--out"]).arg(&dir));
    assert!(output.status.success(), "{}", stderr(&output));

    // One video frame per CSV row, each at its row's timestamp.
    let rows = timestamps(&dir.join("frames.csv"));
    assert_eq!(rows.len(), 480);
    let video = video::frame_times(&dir.join("video.mp4"));
    assert_eq!(video.len(), rows.len(), "video frames vs frames.csv rows");
    for (frame, (v, r)) in video.iter().zip(&rows).enumerate() {
        assert!((v - r).abs() < 0.001, "frame {frame}: video at {v} s, frames.csv at {r} s");
    }

    // Events: in events.csv, on the EAF's tiers, and their pictures.
    let mut events = csv::Reader::from_path(dir.join("events.csv")).unwrap();
    let events: Vec<csv::StringRecord> = events.records().map(Result::unwrap).collect();
    assert!(events.len() >= 6, "the synthetic face's micro-expressions are spotted: {}", events.len());
    let eaf = std::fs::read_to_string(dir.join("session.eaf")).unwrap();
    assert!(eaf.contains(r#"RELATIVE_MEDIA_URL="./video.mp4""#), "the EAF links the recorded video");
    assert_eq!(eaf.matches("<ALIGNABLE_ANNOTATION ").count(), events.len(), "one annotation per event");
    assert!(dir.join("events/1/apex.png").is_file());

    // session.json says how it went.
    let json = session_json(&dir);
    let recording = &json["recording"];
    assert_eq!(recording["state"], "completed");
    assert_eq!(recording["video"], "video.mp4");
    assert_eq!(recording["frames_written"], 480);
    assert_eq!(recording["video_frames"], 480);
    assert_eq!(recording["frames_dropped"], 0);
    assert_eq!(recording["events_written"].as_u64().unwrap() as usize, events.len());
    assert!(json["models"].as_array().unwrap().iter().all(|m| m["sha256"].as_str().is_some_and(|s| s.len() == 64)));

    // Private: the folder and everything in it belong to the user alone.
    assert_eq!(mode(&dir), 0o700);
    for name in ["video.mp4", "frames.csv", "events.csv", "session.eaf", "session.json", "events/1/apex.png"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

fn grey_frame(level: f64) -> Mat {
    Mat::new_rows_cols_with_default(120, 160, CV_8UC3, Scalar::all(level)).unwrap()
}

#[test]
fn the_video_keeps_each_frames_real_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("irregular.mp4");
    // A camera's irregular timing, with a stall.
    let mut times = Vec::new();
    let mut t = 0.0;
    for i in 0..40 {
        times.push(t);
        t += match i % 4 {
            0 => 0.031,
            1 => 0.036,
            2 => 0.029,
            _ => 0.041,
        } + if i == 20 { 0.4 } else { 0.0 };
    }
    let mut writer = VideoWriter::create(&path, 160, 120, 30.0).unwrap();
    for (i, &seconds) in times.iter().enumerate() {
        writer.push(&grey_frame((i * 5) as f64), seconds).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 40);
    let video = video::frame_times(&path);
    assert_eq!(video.len(), times.len());
    for (v, t) in video.iter().zip(&times) {
        assert!((v - t).abs() < 0.0005, "video at {v} s, frame at {t} s");
    }
}

/// Starts a paced recording and waits until frames.csv has `rows` rows.
fn start_recording(dir: &Path, seconds: &str, rows: usize) -> std::process::Child {
    let child = glimpse()
        .args(["analyse", "synthetic", "--seconds", seconds, "--paced", "--record", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(dir.join("frames.csv")).map_or(0, |text| text.lines().count().saturating_sub(1)) < rows {
        assert!(start.elapsed() < Duration::from_secs(60), "the recording did not reach {rows} rows");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn a_kill_in_the_middle_leaves_a_playable_video_and_a_valid_csv_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("killed");
    let mut child = start_recording(&dir, "30", 90);
    child.kill().unwrap(); // SIGKILL: no chance to close anything.
    child.wait().unwrap();

    let rows = timestamps(&dir.join("frames.csv"));
    assert!(rows.len() >= 90);
    let video = video::frame_times(&dir.join("video.mp4"));
    // The video is written a fragment (a quarter second) at a time, behind the rows.
    assert!(video.len() >= 45 && video.len() <= rows.len(), "{} video frames for {} rows", video.len(), rows.len());
    for (frame, (v, r)) in video.iter().zip(&rows).enumerate() {
        assert!((v - r).abs() < 0.001, "frame {frame}: video at {v} s, frames.csv at {r} s");
    }
    assert_eq!(session_json(&dir)["recording"]["state"], "recording", "session.json says it never ended");
    let eaf = std::fs::read_to_string(dir.join("session.eaf")).unwrap();
    assert!(eaf.trim_end().ends_with("</ANNOTATION_DOCUMENT>"), "the EAF on disk is always whole");
}

#[test]
fn a_file_size_limit_stops_the_recording_with_a_clear_error_and_keeps_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("limited");
    // 600 KiB per file: the video reaches it after a few seconds.
    let output = run(Command::new("bash").arg("-c").arg(format!(
        "ulimit -f 600 && exec '{}' analyse synthetic --seconds 30 --record --out '{}'",
        env!("CARGO_BIN_EXE_glimpse"),
        dir.display()
    )));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("video.mp4") && message.contains("File too large"), "{message}");
    assert!(!message.contains("panicked"), "{message}");

    let rows = timestamps(&dir.join("frames.csv"));
    let video = video::frame_times(&dir.join("video.mp4"));
    assert!(!video.is_empty() && video.len() <= rows.len(), "{} video frames, {} rows", video.len(), rows.len());
    assert!(std::fs::metadata(dir.join("video.mp4")).unwrap().len() <= 600 * 1024);
    let recording = &session_json(&dir)["recording"];
    assert!(recording["state"].as_str().unwrap().contains("File too large"), "{recording}");
}

#[test]
fn a_slow_disk_costs_recorded_frames_not_analysis() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("slow");
    std::fs::create_dir(&dir).unwrap();
    // frames.csv is a pipe with a 4-kB buffer drained 256 bytes every 100 ms, about 7 rows a
    // second (a row is ~340 bytes without landmarks): a quarter of the 30 fps the camera-paced
    // analysis makes, so the recorder's queue overflows even on a loaded machine whose analysis
    // runs at half speed. Landmarks are off to keep the analysis cheap: the test is about the
    // recorder.
    let fifo = dir.join("frames.csv");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    // Held open (read-write opens a FIFO without waiting) so that the pipe exists, with its small
    // buffer, before glimpse opens it; dropped once glimpse has exited, which ends the reader.
    let keep_open = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
    // SAFETY: fcntl on a descriptor this test owns; F_SETPIPE_SZ takes an int.
    let size = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&keep_open), libc::F_SETPIPE_SZ, 4096) };
    assert!(size >= 4096, "F_SETPIPE_SZ: {}", std::io::Error::last_os_error());
    let mut pipe = std::fs::File::open(&fifo).unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut text = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            match pipe.read(&mut chunk).unwrap() {
                0 => break,
                n => text.extend_from_slice(&chunk[..n]),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        String::from_utf8(text).unwrap()
    });
    let output = run(glimpse()
        .args(["analyse", "synthetic", "--seconds", "14", "--paced", "--landmarks", "off", "--record", "--json", "--out"])
        .arg(&dir));
    assert!(output.status.success(), "{}", stderr(&output));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let analysed = stats["frames_analysed"].as_u64().unwrap() as usize;

    drop(keep_open);
    let csv_text = reader.join().unwrap();
    let rows = csv_text.lines().count() - 1;
    let recording = &session_json(&dir)["recording"];
    let dropped = recording["frames_dropped"].as_u64().unwrap() as usize;
    assert!(
        dropped > 0,
        "the slow disk made the recorder drop frames: {analysed} analysed, {rows} rows, {recording}, {}",
        stderr(&output)
    );
    assert_eq!(rows + dropped, analysed, "every analysed frame is either recorded or counted as dropped");
    assert_eq!(recording["frames_written"].as_u64().unwrap() as usize, rows);
    assert_eq!(video::frame_times(&dir.join("video.mp4")).len(), rows, "the video drops the same frames as the CSV");
    assert!(stderr(&output).contains("frames were not recorded"), "{}", stderr(&output));
}

/// ONNX Runtime's wheel uploads telemetry within seconds of starting unless told not to, so the
/// run is long enough (30 s of video) for an upload to show.
#[test]
fn recording_opens_no_network_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let log: PathBuf = tmp.path().join("syscalls.log");
    let output = run(Command::new("strace")
        .args(["-f", "-e", "trace=socket,connect,execve,sendto,sendmmsg,openat", "-s", "120", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_glimpse"))
        .args(["analyse", "synthetic", "--seconds", "30", "--record", "--out"])
        .arg(tmp.path().join("session")));
    assert!(output.status.success(), "strace (apt package strace) must run glimpse: {}", stderr(&output));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("+++ exited with 0 +++"), "strace followed the run: {calls}");
    let network: Vec<&str> =
        calls.lines().filter(|l| l.contains("AF_INET") || l.contains("AF_INET6") || l.contains("AF_PACKET")).collect();
    let programs: Vec<&str> = calls.lines().filter(|l| l.contains("execve(") && l.ends_with("= 0")).collect();
    assert!(network.is_empty(), "network sockets opened: {network:?}; programs run: {programs:?}");
}
