//! `GlimpseApp`: the window. Each repaint drains what the pipeline delivered since the last one
//! (never waiting), updates the state, shows the newest frame and asks for the next repaint
//! about 25 ms after the last one began, so the UI keeps its rate whatever the analysis load.

use eframe::egui;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use egui::{Color32, Key, RichText, TextureHandle, ViewportCommand};

use crate::capture::{CameraListing, CameraSpec, SourceKind, SourceSpec, list_cameras, monotonic_ns};
use crate::face::{FaceTrack, Similarity};
use crate::motion::{MotionField, RegionMasks};
use crate::pipeline::{FrameAnalysis, SpotterControl};
use crate::recording::{RecorderConfig, RecordingError, WhenFull};
use crate::session::{RecordingInfo, SessionInfo};
use crate::spotting::{SpotSample, SpotterConfig};

use crate::ui::history::{LatencyWindow, RateMeter, Sample, Timeline};
use crate::ui::image::{face_luminance, to_colour_image};
use crate::ui::inspector::{self, EventView, InspectorTextures};
use crate::ui::overlays::{self, DEFAULT_FLOW_FULL_SCALE, FrameToScreen};
use crate::ui::plots;
use crate::ui::review::{Leave, ReviewView};
use crate::ui::runner::{Runner, RunnerEvent};
use crate::ui::state::{
    CALIBRATION_SECONDS, CalibrationView, DisplaySmoother, EventList, Flash, Overlay, Overlays, Reported, Sensitivity,
    WarningInputs, region_light_threshold, warnings,
};
use crate::ui::status::{self, StatusLine};
use crate::ui::{WindowOptions, set_texture};

mod controls;
mod video;

/// Seconds of history the timelines keep.
const TIMELINE_SECONDS: f64 = 10.0;
/// Results drained per repaint at most (the rest wait for the next one).
const MAX_DRAIN: usize = 240;
/// The repaint period aimed at (40 fps): the wait asked for after each repaint is this less
/// what the last repaint itself took, so the window stays above 30 fps on a busy machine and
/// leaves the cores to the analysis on an idle one.
const TARGET_FRAME: Duration = Duration::from_millis(25);

/// The source picker's choice.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    Camera(u32),
    File,
    Synthetic,
}

/// The newest frame, as drawn.
struct Latest {
    frame_width: i32,
    frame_height: i32,
    face: Option<FaceTrack>,
    crop_to_frame: Option<Similarity>,
    residual: Option<std::sync::Arc<MotionField>>,
    success: bool,
}

/// Record: the session recorder (video, frames.csv, events.csv, session.eaf, session.json, the
/// event pictures) on its own thread; the window only hands it each frame.
struct Recorder {
    started: Instant,
    recorder: crate::recording::Recorder,
}

/// A recording being closed (the encoder flushing) off the UI thread.
struct FinishingRecording {
    dir: PathBuf,
    done: std::thread::JoinHandle<Result<RecordingInfo, RecordingError>>,
}

pub struct GlimpseApp {
    runner: Runner,
    started: Instant,
    quit_after: Option<f64>,
    closing: bool,
    // Source picker.
    cameras: Vec<CameraListing>,
    choice: Choice,
    file_path: String,
    /// Shown until dismissed: e.g. "no camera found: showing the synthetic face".
    notice: Option<String>,
    // Controls.
    overlays: Overlays,
    sensitivity: Sensitivity,
    /// The spotter's threshold at the middle sensitivity.
    default_threshold: f32,
    flow_full_scale: f32,
    calibration: CalibrationView,
    /// The spotter's view of the newest frame.
    spot: SpotSample,
    fullscreen: bool,
    record_dir: String,
    recorder: Option<Recorder>,
    finishing: Option<FinishingRecording>,
    record_when_running: bool,
    record_error: Option<String>,
    /// The session folder the Review button opens.
    review_dir: String,
    /// Review mode: shown instead of the live view while open.
    review: Option<ReviewView>,
    // What was received.
    timeline: Timeline,
    events: EventList<EventView>,
    /// Open the inspector on each new event as it arrives.
    follow_events: bool,
    inspector: InspectorTextures,
    flash: Option<Flash>,
    probabilities: Option<[f32; 3]>,
    latest: Option<Latest>,
    pending_image: Option<(opencv::core::Mat, u64)>,
    face_luminance: Option<f32>,
    last_face_seconds: Option<f64>,
    last_seconds: Option<f64>,
    region_smoothers: [DisplaySmoother; 8],
    region_levels: [f32; 8],
    masks: RegionMasks,
    face_weights: Vec<f32>,
    // Textures.
    video: Option<TextureHandle>,
    flow_texture: Option<TextureHandle>,
    region_texture: Option<TextureHandle>,
    // Rates.
    latency: LatencyWindow,
    capture_rate: RateMeter,
    analysis_rate: RateMeter,
    ui_frames: u64,
    ui_rate: RateMeter,
    /// CPU time of a repaint (egui's own measure), smoothed.
    ui_cpu_ms: f32,
    ui_cpu_smoother: DisplaySmoother,
    last_frame_start: Option<Instant>,
    last_delay: Duration,
    next_delay: Duration,
}

impl GlimpseApp {
    pub fn new(options: WindowOptions) -> Self {
        let cameras = list_cameras().unwrap_or_default();
        let choice = match &options.source {
            SourceSpec::Camera(camera) => Choice::Camera(camera.index),
            SourceSpec::File(_) => Choice::File,
            SourceSpec::Synthetic => Choice::Synthetic,
        };
        let file_path = match &options.source {
            SourceSpec::File(path) => path.display().to_string(),
            _ => String::new(),
        };
        let default_threshold = SpotterConfig::default().sensitivity;
        let sensitivity = Sensitivity::from_threshold(options.spotting.sensitivity, default_threshold);
        let mut runner = Runner::new(options.source.clone(), options.synth.clone(), options.spotting, options.mer_model.clone());
        runner.start();
        let record_dir = options.record_to.as_ref().map_or_else(default_record_dir, |p| p.display().to_string());
        let mut app = Self {
            runner,
            started: Instant::now(),
            quit_after: options.quit_after,
            closing: false,
            cameras,
            choice,
            file_path,
            notice: options.notice.clone(),
            overlays: Overlays::default(),
            sensitivity,
            default_threshold,
            flow_full_scale: DEFAULT_FLOW_FULL_SCALE,
            calibration: CalibrationView::default(),
            spot: SpotSample::default(),
            fullscreen: options.fullscreen,
            review_dir: record_dir.clone(),
            record_dir,
            recorder: None,
            finishing: None,
            record_when_running: false,
            record_error: None,
            review: None,
            timeline: Timeline::new(TIMELINE_SECONDS),
            events: EventList::new(100),
            follow_events: options.follow_events,
            inspector: InspectorTextures::default(),
            flash: None,
            probabilities: None,
            latest: None,
            pending_image: None,
            face_luminance: None,
            last_face_seconds: None,
            last_seconds: None,
            region_smoothers: [DisplaySmoother::default(); 8],
            region_levels: [0.0; 8],
            masks: RegionMasks::new(128),
            face_weights: overlays::face_weights(128),
            video: None,
            flow_texture: None,
            region_texture: None,
            latency: LatencyWindow::new(300),
            capture_rate: RateMeter::default(),
            analysis_rate: RateMeter::default(),
            ui_frames: 0,
            ui_rate: RateMeter::default(),
            ui_cpu_ms: 0.0,
            ui_cpu_smoother: DisplaySmoother::default(),
            last_frame_start: None,
            last_delay: Duration::ZERO,
            next_delay: TARGET_FRAME,
        };
        // `--out`: recording starts with the source (it needs the source's size and rate).
        app.record_when_running = options.record_to.is_some();
        app
    }

    fn seconds_since_start(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Region motion (crop pixels) over which a region is lit.
    fn region_threshold(&self) -> f32 {
        region_light_threshold(self.sensitivity)
    }

    /// Everything that happens to one analysed frame, in arrival order.
    fn receive(&mut self, analysis: FrameAnalysis) {
        let t = analysis.time.seconds;
        if self.last_seconds.is_some_and(|last| t < last) {
            // The source started again (the demo loops): forget the old timeline; a recording
            // goes on after its last frame.
            self.timeline.clear();
            if let Some(recorder) = self.recorder.as_mut() {
                recorder.recorder.source_restarted();
            }
            self.last_face_seconds = None;
        }
        self.last_seconds = Some(t);
        if analysis.success {
            self.last_face_seconds = Some(t);
        }
        if let Some(Err(error)) = self.recorder.as_mut().map(|r| r.recorder.record(&analysis)) {
            // What was written stays; the window goes on without the recorder.
            self.record_error = Some(error.to_string());
            self.finish_recording();
        }
        let wall = self.seconds_since_start();
        self.calibration.update(Reported::from((&analysis.calibration, t)), wall);
        self.spot = analysis.spot;
        if analysis.probabilities.is_some() {
            self.probabilities = analysis.probabilities;
        }
        self.timeline.push(Sample {
            t,
            motion: analysis.spot.score,
            threshold: analysis.spot.threshold,
            probabilities: self.probabilities,
        });
        for event in &analysis.events {
            self.add_event(EventView::from_analysed(event));
        }
        match analysis.motion.as_ref() {
            Some(motion) => {
                let levels = overlays::region_levels(&motion.measurement.regions);
                for (k, level) in levels.iter().enumerate() {
                    self.region_levels[k] = self.region_smoothers[k].update(*level, 0.5);
                }
            }
            None => {
                self.region_smoothers.iter_mut().for_each(DisplaySmoother::reset);
                self.region_levels = [0.0; 8];
            }
        }
        let crop_to_frame = analysis.to_crop.filter(|_| analysis.success).map(|to_crop| to_crop.inverse());
        if let Some(image) = analysis.image {
            self.pending_image = Some((image, analysis.time.capture_ns));
        }
        self.latest = Some(Latest {
            frame_width: analysis.frame_width,
            frame_height: analysis.frame_height,
            crop_to_frame,
            residual: analysis.motion.as_ref().map(|m| m.measurement.residual.clone()),
            face: analysis.face,
            success: analysis.success,
        });
    }

    /// Adds a spotted event: list, timeline interval, flash, probability bars.
    pub fn add_event(&mut self, event: EventView) {
        self.timeline.push_interval(super::history::Interval {
            start: event.onset.seconds,
            end: event.offset.seconds,
            micro: event.micro,
        });
        if event.probabilities.is_some() {
            self.probabilities = event.probabilities;
        }
        if event.micro {
            self.flash = Some(Flash { label: event.flash_label(), started: self.seconds_since_start() });
        }
        let id = event.id;
        self.events.push(id, event);
        if self.follow_events {
            self.events.select(id);
        }
    }

    fn reset_stream_state(&mut self) {
        self.timeline.clear();
        self.latency.clear();
        self.capture_rate.reset();
        self.analysis_rate.reset();
        self.last_face_seconds = None;
        self.last_seconds = None;
        self.latest = None;
        self.pending_image = None;
        self.face_luminance = None;
    }

    fn toggle_recording(&mut self) {
        if self.recorder.is_some() {
            self.finish_recording();
            return;
        }
        let dir = PathBuf::from(self.record_dir.trim());
        if dir.as_os_str().is_empty() {
            self.record_error = Some("choose a folder to record into".into());
            return;
        }
        if self.finishing.as_ref().is_some_and(|f| f.dir == dir) {
            self.record_error = Some(format!("'{}' is still being closed; choose another folder", dir.display()));
            return;
        }
        let Some(info) = self.runner.info().cloned() else {
            self.record_error = Some("start the source before recording".into());
            return;
        };
        let config = self.runner.pipeline_config();
        let recording = RecorderConfig {
            video: true,
            restart_timeline: true,
            when_full: WhenFull::Drop,
            nominal_fps: info.nominal_fps,
            ..RecorderConfig::new(&dir)
        };
        match crate::recording::Recorder::start(recording, SessionInfo::describe(&info, &config)) {
            Ok(recorder) => {
                self.record_error = None;
                self.recorder = Some(Recorder { started: Instant::now(), recorder });
            }
            Err(error) => self.record_error = Some(error.to_string()),
        }
    }

    /// Stops recording; the files are closed on a thread of their own (the encoder flushes its
    /// last frames) and the outcome shown when it is done.
    fn finish_recording(&mut self) {
        let Some(Recorder { recorder, .. }) = self.recorder.take() else { return };
        let dir = recorder.dir().to_owned();
        match std::thread::Builder::new().name("finish-recording".into()).spawn(move || recorder.finish()) {
            Ok(done) => self.finishing = Some(FinishingRecording { dir, done }),
            Err(error) => self.record_error = Some(format!("cannot close the recording: {error}")),
        }
    }

    /// Shows how a closed recording ended, once it has.
    fn poll_finished_recording(&mut self) {
        if !self.finishing.as_ref().is_some_and(|f| f.done.is_finished()) {
            return;
        }
        let Some(FinishingRecording { dir, done }) = self.finishing.take() else { return };
        match done.join() {
            Ok(Ok(info)) => self.notice = Some(crate::commands::report::describe_recording(&dir, &info)),
            Ok(Err(error)) => self.record_error = Some(error.to_string()),
            Err(_) => self.record_error = Some(format!("closing '{}' failed", dir.display())),
        }
    }

    /// Opens the session folder in the review field for review, stopping the live source (its
    /// window shows the review until "Back to live").
    fn open_review(&mut self) {
        let dir = PathBuf::from(self.review_dir.trim());
        match crate::review::ReviewSession::load(&dir) {
            Ok(session) => {
                if self.runner.is_running() || self.runner.is_opening() {
                    self.runner.stop();
                }
                self.review = Some(ReviewView::new(session, true));
            }
            Err(error) => self.notice = Some(format!("cannot review: {error}")),
        }
    }

    fn selected_spec(&self) -> Option<SourceSpec> {
        match self.choice {
            Choice::Camera(index) => Some(SourceSpec::Camera(CameraSpec { index, ..CameraSpec::default() })),
            Choice::Synthetic => Some(SourceSpec::Synthetic),
            Choice::File => {
                let path = self.file_path.trim();
                (!path.is_empty()).then(|| SourceSpec::File(PathBuf::from(path)))
            }
        }
    }

    /// Pipeline events, results, quitting: no drawing here.
    fn update_state(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        self.poll_finished_recording();
        if self.record_when_running && self.runner.info().is_some() {
            self.record_when_running = false;
            self.toggle_recording();
        }
        for event in self.runner.poll(now) {
            match event {
                RunnerEvent::Started(_) => {
                    self.reset_stream_state();
                    if let Some(recorder) = self.recorder.as_mut() {
                        recorder.recorder.source_restarted();
                    }
                }
                RunnerEvent::Ended { .. } => {}
            }
        }
        for analysis in self.runner.drain(MAX_DRAIN) {
            self.receive(analysis);
        }
        if !self.runner.is_running() {
            self.calibration.tick(self.seconds_since_start());
        }
        if let Some(stats) = self.runner.stats() {
            let (read, analysed) = (stats.frames_read, stats.frames_analysed);
            self.capture_rate.update(now, read);
            self.analysis_rate.update(now, analysed);
        }
        if let Some(last) = self.last_frame_start {
            let overhead = now.saturating_duration_since(last).saturating_sub(self.last_delay);
            self.next_delay = TARGET_FRAME.saturating_sub(overhead);
        }
        self.last_frame_start = Some(now);
        self.ui_frames += 1;
        let before = self.ui_rate.rate();
        let rate = self.ui_rate.update(now, self.ui_frames);
        if rate != before || self.ui_frames.is_multiple_of(120) {
            tracing::debug!(ui_fps = rate, ui_cpu_ms = self.ui_cpu_ms, latency_p50_ms = ?self.latency.quantile(0.5), "window");
        }
        if let Some(limit) = self.quit_after
            && self.seconds_since_start() >= limit
            && !self.closing
        {
            self.closing = true;
            if let Some(review) = self.review.as_mut() {
                review.save_and_approve_close();
            }
            ctx.send_viewport_cmd(ViewportCommand::Close);
        }
        match self.review.as_mut() {
            Some(review) => {
                review.hold_close(ctx);
                review.update(ctx);
            }
            None => self.handle_keys(ctx),
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (fullscreen, space, escape, up, down, digits) = ctx.input(|i| {
            let digits: Vec<Overlay> =
                Overlay::ALL.into_iter().filter(|o| digit_key(o.key_digit()).is_some_and(|k| i.key_pressed(k))).collect();
            (
                i.key_pressed(Key::F11),
                i.key_pressed(Key::Space),
                i.key_pressed(Key::Escape),
                i.key_pressed(Key::ArrowUp),
                i.key_pressed(Key::ArrowDown),
                digits,
            )
        });
        if fullscreen {
            self.set_fullscreen(ctx, !self.fullscreen);
        }
        if typing {
            return;
        }
        if space {
            self.start_stop();
        }
        if escape {
            if self.fullscreen {
                self.set_fullscreen(ctx, false);
            } else {
                self.events.deselect();
            }
        }
        if up {
            self.events.step(1);
        }
        if down {
            self.events.step(-1);
        }
        for overlay in digits {
            self.overlays.toggle(overlay);
        }
    }

    fn set_fullscreen(&mut self, ctx: &egui::Context, on: bool) {
        self.fullscreen = on;
        ctx.send_viewport_cmd(ViewportCommand::Fullscreen(on));
    }

    fn start_stop(&mut self) {
        if self.runner.is_running() || self.runner.is_opening() {
            self.runner.stop();
        } else {
            self.runner.start();
        }
    }

    /// Uploads the newest frame and its overlay textures, just before they are drawn.
    fn upload(&mut self, ctx: &egui::Context) {
        if let Some((image, capture_ns)) = self.pending_image.take() {
            if let Some(face) = self.latest.as_ref().and_then(|l| l.face.as_ref()) {
                self.face_luminance = face_luminance(&image, &face.bbox).ok().flatten();
            } else {
                self.face_luminance = None;
            }
            match to_colour_image(&image) {
                Ok(colour) => {
                    set_texture(ctx, &mut self.video, "video", colour);
                    self.latency.push(monotonic_ns().saturating_sub(capture_ns) as f32 / 1e6);
                }
                Err(error) => tracing::warn!("cannot show a frame: {error}"),
            }
            let threshold = self.region_threshold();
            if let Some(latest) = &self.latest {
                if self.overlays.flow_colour
                    && let Some(field) = &latest.residual
                {
                    let image = overlays::flow_image(field, self.flow_full_scale, &self.face_weights);
                    set_texture(ctx, &mut self.flow_texture, "flow", image);
                }
                if self.overlays.regions && latest.residual.is_some() {
                    let image = overlays::region_image(&self.masks, &self.region_levels, threshold);
                    set_texture(ctx, &mut self.region_texture, "regions", image);
                }
            }
        }
    }

    fn status_line(&mut self) -> StatusLine {
        let now = Instant::now();
        let running = self.runner.is_running();
        let state = if running {
            "LIVE".to_owned()
        } else if self.runner.is_opening() {
            "opening…".to_owned()
        } else if self.runner.reconnect_in(now).is_some() {
            "reconnecting".to_owned()
        } else {
            "stopped".to_owned()
        };
        let source = match self.runner.info() {
            Some(info) => {
                let kind = match info.kind {
                    SourceKind::Camera => "camera",
                    SourceKind::File => "file",
                    SourceKind::Synthetic => "demo",
                };
                format!("{kind}: {} {}x{} @ {:.0} fps", info.name, info.width, info.height, info.nominal_fps)
            }
            None => self.runner.spec().to_string(),
        };
        let dropped = self.runner.stats().map_or(0, |s| s.ring.dropped + s.output_dropped);
        let inputs = WarningInputs {
            running,
            seconds_without_face: match (self.last_seconds, self.last_face_seconds) {
                (Some(now), Some(face)) => Some((now - face).max(0.0)),
                (Some(_), None) => None,
                (None, _) => Some(0.0),
            },
            face_luminance: self.face_luminance.filter(|_| self.latest.as_ref().is_some_and(|l| l.success)),
            reconnect_in: self.runner.reconnect_in(now),
            source_error: if running { None } else { self.runner.notice.clone() },
        };
        let mut warnings = warnings(&inputs);
        if let Some(error) = &self.record_error {
            warnings.push(super::state::Warning::SourceError(format!("recording: {error}")));
        }
        StatusLine {
            source,
            capture_fps: self.capture_rate.rate(),
            analysis_fps: self.analysis_rate.rate(),
            ui_fps: self.ui_rate.rate(),
            ui_cpu_ms: self.ui_cpu_ms,
            latency_p50_ms: self.latency.quantile(0.5),
            latency_p95_ms: self.latency.quantile(0.95),
            dropped,
            models: format!(
                "face: Haar + LK · flow: OpenCV DIS · spotter: robust z · MER: {}",
                if self.runner.has_model() { "models/mer.onnx" } else { "none (no emotion)" }
            ),
            recording: self
                .recorder
                .as_ref()
                .map(|r| (r.recorder.dir().display().to_string(), r.recorder.status().frames_written)),
            warnings,
            state,
        }
    }

    /// The whole window for one repaint.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some(review) = self.review.as_mut() {
            match review.draw(ui) {
                Some(Leave::Review) => self.review = None,
                Some(Leave::Window) => ctx.send_viewport_cmd(ViewportCommand::Close),
                None => {}
            }
            ctx.request_repaint_after(self.next_delay);
            return;
        }
        self.upload(&ctx);
        if let Some(recorder) = &self.recorder {
            egui::Panel::top("recording")
                .frame(egui::Frame::new().fill(Color32::from_rgb(160, 0, 0)).inner_margin(egui::Margin::symmetric(10, 5)))
                .show(ui, |ui| recording_banner(ui, recorder));
        }
        egui::Panel::top("controls").show(ui, |ui| {
            ui.add_space(2.0);
            self.controls(ui);
            if let Some(notice) = self.notice.clone() {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(notice).color(Color32::from_rgb(120, 190, 255)));
                    if ui.small_button("dismiss").clicked() {
                        self.notice = None;
                    }
                });
            }
            ui.add_space(2.0);
        });
        let status = self.status_line();
        egui::Panel::bottom("status").show(ui, |ui| status::show(ui, &status));
        egui::Panel::right("side").resizable(true).default_size(380.0).min_size(280.0).show(ui, |ui| {
            self.side_panel(ui);
        });
        egui::CentralPanel::no_frame().show(ui, |ui| self.video_view(ui));
        if let Some(event) = self.events.selected()
            && !inspector::show(&ctx, event, &mut self.inspector)
        {
            self.events.deselect();
        }
        ctx.request_repaint_after(self.next_delay);
        self.last_delay = self.next_delay;
    }

    pub fn shutdown(&mut self) {
        // Closing waits for the recording's last frames to reach the disk.
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.recorder.finish();
        }
        if let Some(finishing) = self.finishing.take() {
            let _ = finishing.done.join();
        }
        self.runner.shutdown(Duration::from_secs(3));
    }
}

impl eframe::App for GlimpseApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.update_state(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if let Some(cpu) = frame.info().cpu_usage {
            self.ui_cpu_ms = self.ui_cpu_smoother.update(cpu * 1000.0, 0.1);
        }
        self.draw(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

/// The band across the top while Record is on: a red dot, REC, the time recorded, the folder.
fn recording_banner(ui: &mut egui::Ui, recorder: &Recorder) {
    let seconds = recorder.started.elapsed().as_secs();
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(20.0, 20.0), egui::Sense::hover());
        // The dot blinks once a second, the band stays.
        let lit = recorder.started.elapsed().as_millis() % 1000 < 700;
        ui.painter().circle_filled(
            rect.center(),
            8.0,
            if lit { Color32::from_rgb(255, 60, 60) } else { Color32::from_rgb(110, 0, 0) },
        );
        ui.painter().circle_stroke(rect.center(), 8.0, egui::Stroke::new(1.5, Color32::WHITE));
        ui.label(RichText::new("REC").size(20.0).strong().color(Color32::WHITE));
        ui.label(
            RichText::new(format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60))
                .size(20.0)
                .monospace()
                .color(Color32::WHITE),
        );
        ui.label(RichText::new(format!("→ {}", recorder.recorder.dir().display())).size(16.0).color(Color32::WHITE));
        let status = recorder.recorder.status();
        let dropped = if status.frames_dropped > 0 {
            format!(", {} dropped (disk too slow)", status.frames_dropped)
        } else {
            String::new()
        };
        ui.label(
            RichText::new(format!(
                "{} frames, {} events, video {:.1} MB{dropped}",
                status.frames_written,
                status.events_written,
                status.video_bytes as f64 / 1e6
            ))
            .color(Color32::from_rgb(255, 210, 210)),
        );
    });
}

fn digit_key(digit: u8) -> Option<Key> {
    Some(match digit {
        1 => Key::Num1,
        2 => Key::Num2,
        3 => Key::Num3,
        4 => Key::Num4,
        5 => Key::Num5,
        6 => Key::Num6,
        _ => return None,
    })
}

fn default_record_dir() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("recordings/session-{seconds}")
}
