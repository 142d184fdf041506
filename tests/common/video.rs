//! What ffprobe (Debian's ffmpeg package, installed by scripts/setup.sh) reads from a video.

use std::path::Path;
use std::process::Command;

/// The presentation time of every video frame, in seconds, as ffprobe decodes the container.
pub fn frame_times(video: &Path) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(video)
        .output()
        .expect("ffprobe runs");
    assert!(output.status.success(), "ffprobe cannot read {}: {}", video.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim().trim_end_matches(',').parse::<f64>().expect("a pts_time"))
        .collect()
}
