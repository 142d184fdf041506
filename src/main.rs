//! The `glimpse` command line: argument parsing and exit codes only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use glimpse::capture::SourceSpec;
use glimpse::commands::{self, StopFlag};
use glimpse::synth::SynthSpec;

#[derive(Parser)]
#[command(name = "glimpse", version, about = "Real-time micro-expression analyser")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run live on a camera, a paced video file or the synthetic face (the default command).
    Live {
        /// `camera`, `camera:N`, `synthetic` or a video file; default: the first camera, else synthetic.
        #[arg(long)]
        source: Option<SourceSpec>,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Also write frames.csv into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// Analyse a video file, the synthetic face or a camera headless, writing DIR/frames.csv.
    Analyse {
        /// A video file, `synthetic`, `camera` or `camera:N`.
        input: SourceSpec,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Read a file at its own frame rate, as a camera would deliver it.
        #[arg(long)]
        paced: bool,
        /// Stop after this many seconds of stream time (needed for cameras unless Ctrl-C).
        #[arg(long)]
        max_seconds: Option<f64>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Landmarks: `auto` (models/landmarks.onnx if present, else box alignment), `off`, or a
        /// model file.
        #[arg(long, default_value = "auto")]
        landmarks: String,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// Write a synthetic face video with injected micro-expressions and its truth table.
    Synth {
        /// Video file to write (.mp4: H.264; .avi: MJPEG).
        #[arg(long)]
        out: PathBuf,
        /// Truth CSV to write.
        #[arg(long)]
        truth: PathBuf,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// Measure decode-only and whole-pipeline speed on an input.
    Bench {
        /// A video file or `synthetic`.
        #[arg(default_value = "synthetic")]
        input: SourceSpec,
        /// Use at most this many frames.
        #[arg(long)]
        frames: Option<u64>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// List the cameras.
    Cameras,
    /// Show the ONNX Runtime library and the model files.
    Models,
}

/// Parameters of the synthetic face (for `synth` and the `synthetic` source).
#[derive(Args, Clone)]
struct SynthArgs {
    /// Length in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Number of micro-expressions to inject.
    #[arg(long, default_value_t = 8)]
    events: usize,
    /// Number of macro-expressions (distractors).
    #[arg(long, default_value_t = 2)]
    macro_events: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    #[arg(long, default_value_t = 640)]
    width: i32,
    #[arg(long, default_value_t = 480)]
    height: i32,
}

impl SynthArgs {
    fn spec(&self) -> SynthSpec {
        SynthSpec {
            width: self.width,
            height: self.height,
            fps: self.fps,
            seconds: self.seconds,
            micro_events: self.events,
            macro_events: self.macro_events,
            seed: self.seed,
            ..SynthSpec::default()
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GLIMPSE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Every error message already names its cause; the chain would repeat it.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let stop = StopFlag::on_ctrl_c();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli.command {
        None => {
            let options = commands::live::LiveOptions { source: None, max_seconds: None, out: None, synth: live_synth() };
            commands::live::run(&options, &stop)?;
        }
        Some(Command::Live { source, seconds, out, synth }) => {
            let options = commands::live::LiveOptions { source, max_seconds: seconds, out, synth: synth.spec() };
            commands::live::run(&options, &stop)?;
        }
        Some(Command::Analyse { input, out, paced, max_seconds, json, landmarks, synth }) => {
            let landmarks = match landmarks.as_str() {
                "auto" => glimpse::pipeline::LandmarkSetting::Auto,
                "off" => glimpse::pipeline::LandmarkSetting::Off,
                file => glimpse::pipeline::LandmarkSetting::File(file.into()),
            };
            let options = commands::analyse::AnalyseOptions {
                input,
                out,
                paced,
                max_seconds,
                synth: synth.spec(),
                progress: interactive,
                landmarks,
            };
            let outcome = commands::analyse::run(&options, &stop)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome.stats).context("formatting the summary")?);
            } else {
                eprint!("{}", commands::report::format_summary(&outcome.stats));
                eprintln!("wrote {}", outcome.frames_csv.display());
            }
            for warning in outcome.warnings {
                eprintln!("warning: {warning}");
            }
        }
        Some(Command::Synth { out, truth, synth }) => {
            let summary = commands::synth::run(&synth.spec(), &out, &truth, interactive)?;
            eprintln!(
                "wrote {} ({} frames {}x{} at {} fps, {}) and {} ({} micro, {} macro events; {} blinks)",
                out.display(),
                summary.frames,
                summary.width,
                summary.height,
                summary.fps,
                summary.fourcc,
                truth.display(),
                summary.micro_events,
                summary.macro_events,
                summary.blinks
            );
        }
        Some(Command::Bench { input, frames, json, synth }) => {
            let report = commands::bench::run(&input, &synth.spec(), frames, &stop)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("formatting the report")?);
            } else {
                print!("{}", commands::bench::format(&report));
            }
        }
        Some(Command::Cameras) => print!("{}", commands::info::cameras()?),
        Some(Command::Models) => print!("{}", commands::info::models()?),
    }
    Ok(())
}

/// The synthetic demo `glimpse` falls back to: a minute, with the default events per 20 s.
fn live_synth() -> SynthSpec {
    SynthSpec { seconds: 60.0, micro_events: 24, macro_events: 6, ..SynthSpec::default() }
}
