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
    /// The live window on a camera, a paced video file or the synthetic face (the default command).
    Live {
        /// `camera`, `camera:N`, `synthetic` or a video file; default: the first camera, else synthetic.
        #[arg(long)]
        source: Option<SourceSpec>,
        /// Stop after this many seconds (headless: of stream time; window: closes the window).
        /// (`--seconds` is the synthetic face's length, as in the other commands.)
        #[arg(long)]
        max_seconds: Option<f64>,
        /// Also write frames.csv into this folder (the window starts recording at once).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No window: status lines on the terminal (what runs when there is no display).
        #[arg(long)]
        headless: bool,
        /// Close the window after this many seconds of wall time (demos, tests).
        #[arg(long, value_name = "SECONDS")]
        quit_after: Option<f64>,
        /// Open the window fullscreen.
        #[arg(long)]
        fullscreen: bool,
        /// Open the inspector on each new event as it arrives (demos).
        #[arg(long)]
        follow_events: bool,
        #[command(flatten)]
        spotting: SpotArgs,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// Analyse a video file, the synthetic face or a camera headless, writing DIR/frames.csv,
    /// DIR/events.csv and each event's pictures in DIR/events/<id>/.
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
        /// Do not save the event pictures (flow, combined flow, dynamic images).
        #[arg(long)]
        no_event_images: bool,
        /// Record the session: also DIR/video.mp4 (H.264), with frames.csv, events.csv and
        /// session.eaf on its time line (frame 1 at 0 s).
        #[arg(long)]
        record: bool,
        /// A camera lost mid-session ends the run (with everything before the loss written)
        /// instead of being reopened every 2 s while the session goes on.
        #[arg(long)]
        no_reconnect: bool,
        #[command(flatten)]
        spotting: SpotArgs,
        /// Landmarks: `auto` (models/landmarks.onnx if present, else box alignment), `off`, or a
        /// model file.
        #[arg(long, default_value = "auto")]
        landmarks: String,
        /// Align the face crop by `level` (the tracked box turned so that the eyes are level; the
        /// box alone without landmarks), the tracked `box`, the `landmarks` (steadily) or
        /// `landmarks-per-frame`.
        #[arg(long, default_value = "level")]
        align_by: glimpse::face::AlignBy,
        /// The flow between face crops: `onnx` (models/flow.onnx), `onnx-vr` (it, then OpenCV's
        /// variational refinement), `dis`, `farneback` or `tvl1` (OpenCV); default: the one that
        /// measured better (see the README).
        #[arg(long)]
        flow: Option<glimpse::motion::FlowMethod>,
        #[command(flatten)]
        synth: SynthArgs,
    },
    /// Review a session folder: play it back with its overlays and events; confirm, reject,
    /// relabel and note events, add missed ones; saves DIR/events.csv and DIR/session.eaf.
    Review {
        /// The session folder (frames.csv, events.csv; video.mp4 when recorded).
        dir: PathBuf,
        /// Close the window after this many seconds of wall time (tests, demos); unsaved edits
        /// are saved.
        #[arg(long, value_name = "SECONDS")]
        quit_after: Option<f64>,
    },
    /// Measure the project's components against ground truth.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
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
    /// Measure speed on an input: decode only (the limit), each stage alone, the whole pipeline
    /// (fps, latency, CPU, peak memory); or follow the memory over a long run (`--soak-minutes`).
    Bench {
        /// A video file or `synthetic`.
        #[arg(default_value = "synthetic")]
        input: SourceSpec,
        /// Use at most this many frames.
        #[arg(long)]
        frames: Option<u64>,
        /// Run the whole pipeline at the input's frame rate, as a camera delivers it (the latency
        /// figure); default: as fast as it goes (the throughput figure).
        #[arg(long)]
        paced: bool,
        /// Instead: run the pipeline on the input played in a loop for this many minutes (paced
        /// unless `--unpaced`), printing the resident memory every minute and its slope.
        #[arg(long, value_name = "MINUTES")]
        soak_minutes: Option<f64>,
        /// Seconds between memory readings during a soak.
        #[arg(long, default_value_t = 60.0, requires = "soak_minutes")]
        soak_sample_seconds: f64,
        /// A soak as fast as it goes rather than paced.
        #[arg(long, requires = "soak_minutes")]
        unpaced: bool,
        /// The flow between face crops: `dis` (the default), `onnx` (models/flow.onnx: all three
        /// models), `onnx-vr`, `farneback` or `tvl1`.
        #[arg(long)]
        flow: Option<glimpse::motion::FlowMethod>,
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

#[derive(Subcommand)]
enum EvalCommand {
    /// End-point error and time per pair of each flow estimator (flow.onnx, DIS, Farneback,
    /// Dual TV-L1) on synthetic face sequences against the renderer's true motion.
    Flow {
        /// Number of synthetic videos (seeds 1..=N).
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Number the seeds from here (seeds S..S+N-1): a development set apart from the
        /// reported one (seeds 1..=3).
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Length of each video.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Only these methods (repeatable; default: all four).
        #[arg(long = "flow")]
        flows: Vec<glimpse::motion::FlowMethod>,
        /// Also write each method's mean error on local motion per crop pixel into this folder
        /// (`<method>_local_epe.png`, blue 0 to red 0.3 px, and `local_epe.csv`).
        #[arg(long)]
        error_maps: Option<PathBuf>,
        /// Also write the pairs themselves into this folder (crops, true flow, local motion;
        /// `pairs.json` says how), for scoring a candidate model from Python
        /// (`glimpse_train flow-synth-eval`).
        #[arg(long)]
        save_pairs: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Score the spotter on synthetic videos (precision, recall, F1 at IoU >= 0.5, false alarms
    /// per minute) and count its micro events on real videos without micro-expressions.
    Spotting {
        /// Number of synthetic videos (seeds 1..=N).
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Number the seeds from here (seeds S..S+N-1): a development set apart from the
        /// reported one (seeds 1..=20).
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Length of each synthetic video in seconds.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Frame rate of the synthetic videos.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Real videos to count false alarms on (each `*.mp4` in the folder); default:
        /// ../shared/data/videos when it exists.
        #[arg(long, conflicts_with = "no_videos")]
        videos: Option<PathBuf>,
        /// Only the synthetic videos.
        #[arg(long)]
        no_videos: bool,
        /// Keep the videos and analyses here (default: a temporary folder).
        #[arg(long)]
        work: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Align the face crop by `level` (the tracked box turned so that the eyes are level; the
        /// box alone without landmarks), the tracked `box`, the `landmarks` (steadily) or
        /// `landmarks-per-frame`.
        #[arg(long, default_value = "level")]
        align_by: glimpse::face::AlignBy,
        /// The flow between face crops: `onnx`, `onnx-vr`, `dis`, `farneback` or `tvl1` (default: as `analyse`).
        #[arg(long)]
        flow: Option<glimpse::motion::FlowMethod>,
        /// Also recognise each event with models/mer.onnx and score its emotion against the
        /// emotion the synthetic face meant.
        #[arg(long)]
        mer: bool,
        /// Render the synthetic videos with the head rolled by this many degrees (a tilted head).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        roll: f32,
        /// `--align-by level`: eye-line rolls within this many degrees of the held roll do not
        /// turn the crop.
        #[arg(long, value_name = "DEGREES", default_value_t = glimpse::face::ROLL_DEAD_BAND_DEG)]
        roll_dead_band: f32,
        #[command(flatten)]
        spotting: SpotArgs,
    },
}

/// Spotter settings.
#[derive(Args, Clone, Copy)]
struct SpotArgs {
    /// Spotting threshold in robust standard deviations of each region's recent motion (lower
    /// finds weaker movements and more false alarms).
    #[arg(long, default_value_t = glimpse::spotting::SpotterConfig::default().sensitivity)]
    sensitivity: f32,
}

impl SpotArgs {
    fn config(&self) -> glimpse::spotting::SpotterConfig {
        glimpse::spotting::SpotterConfig { sensitivity: self.sensitivity, ..Default::default() }
    }
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
    /// Roll the head by this many degrees all along (a tilted head; -45..45).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    roll: f32,
}

impl SynthArgs {
    /// No synthetic option was given on the command line.
    fn is_default(&self) -> bool {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            synth: SynthArgs,
        }
        let default = Only::parse_from(["glimpse"]).synth;
        (self.seconds, self.events, self.macro_events, self.seed, self.fps, self.width, self.height, self.roll)
            == (
                default.seconds,
                default.events,
                default.macro_events,
                default.seed,
                default.fps,
                default.width,
                default.height,
                default.roll,
            )
    }

    fn spec(&self) -> SynthSpec {
        SynthSpec {
            width: self.width,
            height: self.height,
            fps: self.fps,
            seconds: self.seconds,
            micro_events: self.events,
            macro_events: self.macro_events,
            seed: self.seed,
            roll_deg: self.roll,
            ..SynthSpec::default()
        }
    }
}

fn main() -> ExitCode {
    // A file-size limit (ulimit -f) must end a recording with an error naming the file, keeping
    // what was written, not kill the process mid-write.
    // SAFETY: setting a signal's disposition to "ignore" before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // glimpse opens no network connection. Microsoft's ONNX Runtime builds (the PyPI wheel we
    // load) upload telemetry from Linux too, starting while the runtime initialises, before any
    // API call could switch it off; this variable, read at initialisation, stops all of it.
    // SAFETY: no other thread exists yet to read the environment concurrently.
    unsafe {
        std::env::set_var(glimpse::inference::TELEMETRY_OFF_VARIABLE, "1");
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GLIMPSE_LOG").unwrap_or_else(|_| "warn".into()))
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
            let options = commands::live::LiveOptions {
                source: None,
                max_seconds: None,
                out: None,
                synth: live_synth(),
                spotting: glimpse::spotting::SpotterConfig::default(),
            };
            live(options, false, WindowFlags::default(), &stop)?;
        }
        Some(Command::Live { source, max_seconds, out, headless, quit_after, fullscreen, follow_events, spotting, synth }) => {
            // The synthetic demo of the window is a minute long unless asked otherwise.
            let synth = if synth.is_default() && !headless { live_synth() } else { synth.spec() };
            let options = commands::live::LiveOptions { source, max_seconds, out, synth, spotting: spotting.config() };
            let window = WindowFlags { quit_after, fullscreen, follow_events };
            live(options, headless, window, &stop)?;
        }
        Some(Command::Analyse {
            input,
            out,
            paced,
            max_seconds,
            json,
            no_event_images,
            record,
            no_reconnect,
            spotting,
            landmarks,
            align_by,
            flow,
            synth,
        }) => {
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
                spotting: spotting.config(),
                event_images: !no_event_images,
                progress: interactive,
                landmarks,
                align_by,
                flow: flow.unwrap_or_default(),
                record,
                reconnect: !no_reconnect,
            };
            let outcome = commands::analyse::run(&options, &stop)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome.stats).context("formatting the summary")?);
            } else {
                eprint!("{}", commands::report::format_summary(&outcome.stats));
                eprintln!("{}", commands::report::describe_recording(&options.out, &outcome.recording));
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
        Some(Command::Bench {
            input,
            frames,
            paced,
            soak_minutes: Some(minutes),
            soak_sample_seconds,
            unpaced,
            flow,
            json,
            synth,
        }) => {
            if frames.is_some() || paced || flow.is_some() {
                anyhow::bail!(
                    "--frames, --paced and --flow are for the speed benchmark; a soak runs the default pipeline for --soak-minutes (paced unless --unpaced)"
                );
            }
            if !(minutes > 0.0 && soak_sample_seconds > 0.0) {
                anyhow::bail!("--soak-minutes and --soak-sample-seconds must be positive");
            }
            let options = commands::bench::SoakOptions {
                input,
                synth: synth.spec(),
                length: commands::bench::SoakLength::Wall(std::time::Duration::from_secs_f64(minutes * 60.0)),
                samples: ((minutes * 60.0 / soak_sample_seconds).round() as u32).max(1),
                paced: !unpaced,
            };
            let report =
                commands::bench::soak(&options, &stop, |sample| eprintln!("{}", commands::bench::format_soak_sample(sample)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("formatting the report")?);
            } else {
                print!("{}", commands::bench::format_soak(&report));
            }
        }
        Some(Command::Bench { input, frames, paced, soak_minutes: None, flow, json, synth, .. }) => {
            let options = commands::bench::BenchOptions {
                input,
                synth: synth.spec(),
                max_frames: frames,
                paced,
                flow: flow.unwrap_or_default(),
            };
            let report = commands::bench::run(&options, &stop)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("formatting the report")?);
            } else {
                print!("{}", commands::bench::format(&report));
            }
        }
        Some(Command::Eval {
            what: EvalCommand::Flow { seeds, first_seed, seconds, fps, flows, error_maps, save_pairs, json },
        }) => {
            let methods = if flows.is_empty() { glimpse::motion::FlowMethod::ALL.to_vec() } else { flows };
            let report = commands::eval_flow::run(&commands::eval_flow::FlowEvalOptions {
                seeds,
                first_seed,
                seconds,
                fps,
                methods,
                error_maps,
                save_pairs,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("formatting the report")?);
            } else {
                print!("{}", commands::eval_flow::format(&report));
            }
        }
        Some(Command::Eval {
            what:
                EvalCommand::Spotting {
                    seeds,
                    first_seed,
                    seconds,
                    fps,
                    videos,
                    no_videos,
                    work,
                    json,
                    align_by,
                    flow,
                    mer,
                    roll,
                    roll_dead_band,
                    spotting,
                },
        }) => {
            let mer_model = if mer { Some(commands::eval::required_mer_model()?) } else { None };
            let options = commands::eval::SpottingEvalOptions {
                seeds,
                first_seed,
                seconds,
                fps,
                videos: if no_videos { None } else { videos.or_else(commands::eval::default_videos_dir) },
                work,
                spotting: spotting.config(),
                align_by,
                flow: flow.unwrap_or_default(),
                mer_model,
                roll_deg: roll,
                roll_dead_band_deg: roll_dead_band,
                progress: interactive,
            };
            let report = commands::eval::spotting(&options, &stop)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).context("formatting the report")?);
            } else {
                print!("{}", commands::eval::format_spotting(&report));
            }
        }
        Some(Command::Review { dir, quit_after }) => {
            commands::review::run(&commands::review::ReviewOptions { dir, quit_after })?;
        }
        Some(Command::Cameras) => print!("{}", commands::info::cameras()?),
        Some(Command::Models) => print!("{}", commands::info::models()?),
    }
    Ok(())
}

/// The window's own options of `glimpse live`.
#[derive(Default)]
struct WindowFlags {
    quit_after: Option<f64>,
    fullscreen: bool,
    follow_events: bool,
}

/// `glimpse live`: the window, or the status lines when asked (`--headless`) or when there is no
/// display to open a window on.
fn live(options: commands::live::LiveOptions, headless: bool, window: WindowFlags, stop: &StopFlag) -> anyhow::Result<()> {
    if !headless && !glimpse::ui::display_available() {
        eprintln!("no display (DISPLAY/WAYLAND_DISPLAY unset): running headless; `--headless` says so explicitly");
    }
    if headless || !glimpse::ui::display_available() {
        commands::live::run(&options, stop)?;
        return Ok(());
    }
    let (source, notice) = match options.source {
        Some(spec) => (spec, None),
        None => commands::live::default_source(),
    };
    if let Some(notice) = &notice {
        eprintln!("{notice}");
    }
    let mut warnings = Vec::new();
    let mer_model = commands::recognition_model(&mut warnings)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let notice = match (notice, warnings.is_empty()) {
        (Some(notice), false) => Some(format!("{notice}; {}", warnings.join("; "))),
        (None, false) => Some(warnings.join("; ")),
        (notice, true) => notice,
    };
    let quit_after = match (window.quit_after, options.max_seconds) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    glimpse::ui::run(glimpse::ui::WindowOptions {
        source,
        notice,
        synth: options.synth,
        quit_after,
        record_to: options.out,
        fullscreen: window.fullscreen,
        follow_events: window.follow_events,
        spotting: options.spotting,
        mer_model,
    })?;
    Ok(())
}

/// The synthetic demo `glimpse` falls back to: a minute, with the default events per 20 s.
fn live_synth() -> SynthSpec {
    SynthSpec { seconds: 60.0, micro_events: 24, macro_events: 6, ..SynthSpec::default() }
}
