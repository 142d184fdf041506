//! The window's state and the rules that change it, kept apart from drawing so that they can be
//! tested without a window: overlay toggles, sensitivity, the neutral-baseline calibration, the
//! event list and its selection, the spotted-event flash and the warnings.

use std::collections::VecDeque;

/// Which overlays are drawn over the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlays {
    pub face_box: bool,
    pub landmarks: bool,
    pub flow_arrows: bool,
    pub flow_colour: bool,
    pub regions: bool,
    pub flash: bool,
}

impl Default for Overlays {
    fn default() -> Self {
        Self { face_box: true, landmarks: true, flow_arrows: true, flow_colour: true, regions: true, flash: true }
    }
}

/// One overlay, for toggling by name (menus, keyboard shortcuts, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    FaceBox,
    Landmarks,
    FlowArrows,
    FlowColour,
    Regions,
    Flash,
}

impl Overlay {
    pub const ALL: [Overlay; 6] =
        [Overlay::FaceBox, Overlay::Landmarks, Overlay::FlowArrows, Overlay::FlowColour, Overlay::Regions, Overlay::Flash];

    pub fn label(self) -> &'static str {
        match self {
            Overlay::FaceBox => "box",
            Overlay::Landmarks => "landmarks",
            Overlay::FlowArrows => "arrows",
            Overlay::FlowColour => "flow colour",
            Overlay::Regions => "regions",
            Overlay::Flash => "flash",
        }
    }

    /// The key that toggles it (1..6).
    pub fn key_digit(self) -> u8 {
        Overlay::ALL.iter().position(|o| *o == self).map_or(0, |i| i as u8 + 1)
    }
}

impl Overlays {
    pub fn get_mut(&mut self, overlay: Overlay) -> &mut bool {
        match overlay {
            Overlay::FaceBox => &mut self.face_box,
            Overlay::Landmarks => &mut self.landmarks,
            Overlay::FlowArrows => &mut self.flow_arrows,
            Overlay::FlowColour => &mut self.flow_colour,
            Overlay::Regions => &mut self.regions,
            Overlay::Flash => &mut self.flash,
        }
    }

    pub fn is_on(&self, overlay: Overlay) -> bool {
        let mut copy = *self;
        *copy.get_mut(overlay)
    }

    pub fn toggle(&mut self, overlay: Overlay) {
        let slot = self.get_mut(overlay);
        *slot = !*slot;
    }

    pub fn set_all(&mut self, on: bool) {
        for overlay in Overlay::ALL {
            *self.get_mut(overlay) = on;
        }
    }

    pub fn any_on(&self) -> bool {
        Overlay::ALL.iter().any(|o| self.is_on(*o))
    }
}

/// How readily motion counts as an expression: 0 (only strong motion) to 1 (the faintest).
/// The spotter's threshold (robust z-score) is its default times [`Sensitivity::threshold_factor`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensitivity(f32);

impl Default for Sensitivity {
    fn default() -> Self {
        Self(0.5)
    }
}

impl Sensitivity {
    pub fn new(value: f32) -> Self {
        Self(if value.is_finite() { value.clamp(0.0, 1.0) } else { 0.5 })
    }

    pub fn value(self) -> f32 {
        self.0
    }

    /// Multiplier on the default threshold: x2 at 0, x1 at 0.5, x0.5 at 1.
    pub fn threshold_factor(self) -> f32 {
        2f32.powf(1.0 - 2.0 * self.0)
    }

    /// The spotter's threshold for this sensitivity, given its default.
    pub fn spotter_threshold(self, default_threshold: f32) -> f32 {
        default_threshold * self.threshold_factor()
    }

    /// The sensitivity that gives `threshold` (e.g. from `--sensitivity` on the command line).
    pub fn from_threshold(threshold: f32, default_threshold: f32) -> Self {
        if !(threshold > 0.0 && default_threshold > 0.0) {
            return Self::default();
        }
        Self::new((1.0 - (threshold / default_threshold).log2()) / 2.0)
    }
}

/// The neutral-baseline calibration as the window shows it. The spotter does the work (a few
/// seconds of a neutral face set each region's noise floor); this follows its state from the
/// button press to the end, and catches a calibration that never starts or is lost.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CalibrationView {
    #[default]
    NotCalibrated,
    /// Asked for at this wall time; the pipeline has not reported it running yet.
    Requested {
        since: f64,
    },
    Running {
        progress: f32,
    },
    Calibrated,
    Failed(String),
}

/// Seconds of neutral face a calibration collects.
pub const CALIBRATION_SECONDS: f64 = 3.0;
/// A request the pipeline has not taken up after this long (wall seconds) has failed.
const CALIBRATION_START_TIMEOUT: f64 = 3.0;

/// What the spotter reports about its calibration, reduced to what the view needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reported {
    None,
    Running { progress: f32 },
    Done,
}

impl From<(&crate::spotting::Calibration, f64)> for Reported {
    fn from((calibration, now_seconds): (&crate::spotting::Calibration, f64)) -> Self {
        match calibration {
            crate::spotting::Calibration::None => Reported::None,
            crate::spotting::Calibration::Running { .. } => {
                Reported::Running { progress: calibration.progress(now_seconds).unwrap_or(0.0) }
            }
            crate::spotting::Calibration::Done { .. } => Reported::Done,
        }
    }
}

impl CalibrationView {
    /// The button was pressed at wall time `now` (the caller sends the request to the spotter).
    pub fn request(&mut self, now: f64) {
        *self = CalibrationView::Requested { since: now };
    }

    /// Cancel was pressed (the caller clears the spotter's calibration).
    pub fn cancel(&mut self) {
        if self.is_busy() {
            *self = CalibrationView::NotCalibrated;
        }
    }

    pub fn is_busy(&self) -> bool {
        matches!(self, CalibrationView::Requested { .. } | CalibrationView::Running { .. })
    }

    /// Follows the spotter's report for one frame, at wall time `now`.
    pub fn update(&mut self, reported: Reported, now: f64) {
        *self = match (std::mem::take(self), reported) {
            (_, Reported::Running { progress }) => CalibrationView::Running { progress },
            (CalibrationView::Requested { since }, Reported::None) => {
                if now - since > CALIBRATION_START_TIMEOUT {
                    CalibrationView::Failed("the analysis did not start the calibration: is it running?".into())
                } else {
                    CalibrationView::Requested { since }
                }
            }
            (CalibrationView::Requested { since }, Reported::Done) => CalibrationView::Requested { since },
            (CalibrationView::Running { .. }, Reported::Done) => CalibrationView::Calibrated,
            (CalibrationView::Running { .. }, Reported::None) => {
                CalibrationView::Failed("the calibration was interrupted (the source restarted?)".into())
            }
            (_, Reported::Done) => CalibrationView::Calibrated,
            // A new pipeline forgets its calibration.
            (CalibrationView::Calibrated, Reported::None) => CalibrationView::NotCalibrated,
            (other, Reported::None) => other,
        };
    }

    /// The request timed out while no frames arrived (the pipeline stopped).
    pub fn tick(&mut self, now: f64) {
        if let CalibrationView::Requested { since } = *self
            && now - since > CALIBRATION_START_TIMEOUT
        {
            *self = CalibrationView::Failed("no frames to calibrate on: start the source first".into());
        }
    }

    pub fn progress(&self) -> Option<f32> {
        match self {
            CalibrationView::Requested { .. } => Some(0.0),
            CalibrationView::Running { progress } => Some(*progress),
            _ => None,
        }
    }
}

/// Region motion (crop pixels) that lights a region at the middle sensitivity.
pub const REGION_LIGHT_PX: f32 = 0.12;

/// The level over which a region is lit: lower for a more sensitive setting.
pub fn region_light_threshold(sensitivity: Sensitivity) -> f32 {
    REGION_LIGHT_PX * sensitivity.threshold_factor()
}

/// Recent events, newest last, with at most one selected (the one the inspector shows).
#[derive(Debug, Clone)]
pub struct EventList<T> {
    items: VecDeque<(u64, T)>,
    selected: Option<u64>,
    capacity: usize,
}

impl<T> EventList<T> {
    pub fn new(capacity: usize) -> Self {
        Self { items: VecDeque::new(), selected: None, capacity: capacity.max(1) }
    }

    /// Adds an event; the oldest goes when the list is full (and its selection with it).
    pub fn push(&mut self, id: u64, item: T) {
        if let Some(slot) = self.items.iter_mut().find(|(existing, _)| *existing == id) {
            slot.1 = item;
            return;
        }
        self.items.push_back((id, item));
        while self.items.len() > self.capacity {
            if let Some((gone, _)) = self.items.pop_front()
                && self.selected == Some(gone)
            {
                self.selected = None;
            }
        }
    }

    /// Selects an event (clicking it); an id not in the list selects nothing.
    pub fn select(&mut self, id: u64) -> bool {
        let found = self.items.iter().any(|(existing, _)| *existing == id);
        self.selected = found.then_some(id);
        found
    }

    /// Clicking the selected event again closes the inspector.
    pub fn toggle(&mut self, id: u64) {
        if self.selected == Some(id) {
            self.selected = None
        } else {
            self.select(id);
        }
    }

    pub fn deselect(&mut self) {
        self.selected = None;
    }

    pub fn selected_id(&self) -> Option<u64> {
        self.selected
    }

    pub fn selected(&self) -> Option<&T> {
        let id = self.selected?;
        self.items.iter().find(|(existing, _)| *existing == id).map(|(_, item)| item)
    }

    /// Moves the selection to the next (+1) or previous (-1) event; selects the newest if none.
    pub fn step(&mut self, delta: i32) {
        if self.items.is_empty() {
            return;
        }
        let last = self.items.len() - 1;
        let position = match self.selected.and_then(|id| self.items.iter().position(|(e, _)| *e == id)) {
            Some(p) => (p as i64 + delta as i64).clamp(0, last as i64) as usize,
            None => last,
        };
        self.selected = Some(self.items[position].0);
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.selected = None;
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn latest(&self) -> Option<&T> {
        self.items.back().map(|(_, item)| item)
    }

    /// Newest first, as the list shows them.
    pub fn iter_newest_first(&self) -> impl Iterator<Item = (u64, &T)> {
        self.items.iter().rev().map(|(id, item)| (*id, item))
    }
}

/// The label flashed over the video when an expression is spotted.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub label: String,
    pub started: f64,
}

/// Seconds a flash stays on screen.
pub const FLASH_SECONDS: f64 = 1.2;

impl Flash {
    /// How strongly it shows at `now` (wall seconds): 1 at the start, fading to 0.
    pub fn strength(&self, now: f64) -> f32 {
        let age = now - self.started;
        if !(0.0..FLASH_SECONDS).contains(&age) { 0.0 } else { (1.0 - age / FLASH_SECONDS) as f32 }
    }
}

/// What the status bar warns about.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    NoFace,
    PoorLight { luminance: f32 },
    CameraLost { retry_in: f32 },
    SourceError(String),
}

impl Warning {
    pub fn text(&self) -> String {
        match self {
            Warning::NoFace => "no face in view".into(),
            Warning::PoorLight { luminance } => format!("poor light (face brightness {luminance:.0}/255)"),
            Warning::CameraLost { retry_in } => format!("camera lost — reconnecting in {retry_in:.0} s"),
            Warning::SourceError(message) => message.clone(),
        }
    }
}

/// Face luminance under this (0..255) is "poor light".
pub const POOR_LIGHT_LUMINANCE: f32 = 60.0;
/// Seconds without a face before warning (a blink of tracking loss is not worth a warning).
pub const NO_FACE_GRACE_SECONDS: f64 = 0.5;

/// What the warnings are computed from, once per repaint.
#[derive(Debug, Clone, Default)]
pub struct WarningInputs {
    pub running: bool,
    /// Stream seconds since a face was last measured (`None`: never yet).
    pub seconds_without_face: Option<f64>,
    pub face_luminance: Option<f32>,
    pub reconnect_in: Option<f32>,
    pub source_error: Option<String>,
}

pub fn warnings(inputs: &WarningInputs) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(retry_in) = inputs.reconnect_in {
        out.push(Warning::CameraLost { retry_in });
    }
    if let Some(message) = &inputs.source_error {
        out.push(Warning::SourceError(message.clone()));
    }
    if inputs.running {
        if inputs.seconds_without_face.is_none_or(|s| s > NO_FACE_GRACE_SECONDS) {
            out.push(Warning::NoFace);
        }
        if let Some(luminance) = inputs.face_luminance.filter(|l| *l < POOR_LIGHT_LUMINANCE) {
            out.push(Warning::PoorLight { luminance });
        }
    }
    out
}

/// An exponential moving average, for display only (nothing analysed is smoothed).
#[derive(Debug, Clone, Copy, Default)]
pub struct DisplaySmoother {
    value: Option<f32>,
}

impl DisplaySmoother {
    /// `alpha` in 0..1: the weight of the new value.
    pub fn update(&mut self, value: f32, alpha: f32) -> f32 {
        let next = match self.value {
            Some(previous) => previous + alpha.clamp(0.0, 1.0) * (value - previous),
            None => value,
        };
        self.value = Some(next);
        next
    }

    pub fn reset(&mut self) {
        self.value = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_toggles() {
        let mut overlays = Overlays::default();
        assert!(Overlay::ALL.iter().all(|o| overlays.is_on(*o)));
        overlays.toggle(Overlay::FlowArrows);
        assert!(!overlays.flow_arrows && overlays.is_on(Overlay::FlowColour));
        overlays.toggle(Overlay::FlowArrows);
        assert!(overlays.flow_arrows);
        overlays.set_all(false);
        assert!(!overlays.any_on());
        overlays.toggle(Overlay::Landmarks);
        assert!(overlays.any_on() && overlays.landmarks && !overlays.face_box);
        let digits: Vec<u8> = Overlay::ALL.iter().map(|o| o.key_digit()).collect();
        assert_eq!(digits, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn sensitivity_maps_to_the_spotter_threshold() {
        assert_eq!(Sensitivity::new(0.5).threshold_factor(), 1.0);
        assert!((Sensitivity::new(0.0).spotter_threshold(8.0) - 16.0).abs() < 1e-5);
        assert!((Sensitivity::new(1.0).spotter_threshold(8.0) - 4.0).abs() < 1e-5);
        assert_eq!(Sensitivity::new(7.0).value(), 1.0);
        assert_eq!(Sensitivity::new(f32::NAN).value(), 0.5);
        for value in [0.0, 0.2, 0.5, 0.9, 1.0] {
            let threshold = Sensitivity::new(value).spotter_threshold(8.0);
            assert!((Sensitivity::from_threshold(threshold, 8.0).value() - value).abs() < 1e-5, "{value}");
        }
        assert_eq!(Sensitivity::from_threshold(-1.0, 8.0), Sensitivity::default());
        assert!(region_light_threshold(Sensitivity::new(1.0)) < region_light_threshold(Sensitivity::new(0.0)));
    }

    #[test]
    fn calibration_follows_the_spotter() {
        let mut calibration = CalibrationView::default();
        calibration.update(Reported::None, 0.0);
        assert_eq!(calibration, CalibrationView::NotCalibrated);
        calibration.request(10.0);
        assert!(calibration.is_busy());
        assert_eq!(calibration.progress(), Some(0.0));
        // The frames that left before the request still say None: keep waiting.
        calibration.update(Reported::None, 10.1);
        assert!(matches!(calibration, CalibrationView::Requested { .. }));
        // An old calibration's Done is not this one's.
        calibration.update(Reported::Done, 10.15);
        assert!(matches!(calibration, CalibrationView::Requested { .. }));
        calibration.update(Reported::Running { progress: 0.0 }, 10.2);
        calibration.update(Reported::Running { progress: 0.5 }, 11.7);
        assert_eq!(calibration.progress(), Some(0.5));
        calibration.update(Reported::Done, 13.3);
        assert_eq!(calibration, CalibrationView::Calibrated);
        assert_eq!(calibration.progress(), None);
        // Stays calibrated while the spotter says so; a new pipeline forgets it.
        calibration.update(Reported::Done, 14.0);
        assert_eq!(calibration, CalibrationView::Calibrated);
        calibration.update(Reported::None, 15.0);
        assert_eq!(calibration, CalibrationView::NotCalibrated);
    }

    #[test]
    fn calibration_fails_or_is_cancelled() {
        let mut calibration = CalibrationView::default();
        calibration.request(0.0);
        calibration.update(Reported::None, 5.0);
        assert!(matches!(&calibration, CalibrationView::Failed(m) if m.contains("did not start")), "{calibration:?}");

        calibration.request(0.0);
        calibration.tick(1.0);
        assert!(calibration.is_busy());
        calibration.tick(4.0);
        assert!(matches!(&calibration, CalibrationView::Failed(m) if m.contains("no frames")), "{calibration:?}");

        calibration.request(0.0);
        calibration.update(Reported::Running { progress: 0.3 }, 1.0);
        calibration.update(Reported::None, 1.1);
        assert!(matches!(&calibration, CalibrationView::Failed(m) if m.contains("interrupted")), "{calibration:?}");

        calibration.request(0.0);
        calibration.update(Reported::Running { progress: 0.3 }, 1.0);
        calibration.cancel();
        assert_eq!(calibration, CalibrationView::NotCalibrated);
        calibration.cancel();
        assert_eq!(calibration, CalibrationView::NotCalibrated, "cancel when idle does nothing");
    }

    #[test]
    fn the_spotters_calibration_reduces_to_the_report() {
        use crate::spotting::Calibration;
        let running = Calibration::Running { started_seconds: 10.0, until_seconds: 13.0 };
        assert_eq!(Reported::from((&running, 11.5)), Reported::Running { progress: 0.5 });
        assert_eq!(Reported::from((&Calibration::None, 0.0)), Reported::None);
        assert_eq!(Reported::from((&Calibration::Done { spread_px: [0.1; 16] }, 0.0)), Reported::Done);
    }

    #[test]
    fn event_selection() {
        let mut events = EventList::new(3);
        assert!(!events.select(1) && events.selected().is_none());
        events.step(1);
        assert_eq!(events.selected_id(), None, "nothing to step to");
        for id in 1..=3 {
            events.push(id, format!("event {id}"));
        }
        assert!(events.select(2));
        assert_eq!(events.selected().map(String::as_str), Some("event 2"));
        events.step(1);
        assert_eq!(events.selected_id(), Some(3));
        events.step(1);
        assert_eq!(events.selected_id(), Some(3), "clamped at the newest");
        events.step(-5);
        assert_eq!(events.selected_id(), Some(1));
        // The oldest falls out when full, and its selection with it.
        events.push(4, "event 4".into());
        assert_eq!(events.len(), 3);
        assert_eq!(events.selected_id(), None);
        assert!(!events.select(1));
        events.toggle(4);
        assert_eq!(events.selected_id(), Some(4));
        events.toggle(4);
        assert_eq!(events.selected_id(), None, "clicking again closes the inspector");
        // Updating an event keeps one entry.
        events.push(4, "event 4 recognised".into());
        assert_eq!(events.len(), 3);
        assert_eq!(events.latest().map(String::as_str), Some("event 4 recognised"));
        let order: Vec<u64> = events.iter_newest_first().map(|(id, _)| id).collect();
        assert_eq!(order, vec![4, 3, 2]);
        events.step(-1);
        assert_eq!(events.selected_id(), Some(4), "no selection steps to the newest");
        events.clear();
        assert!(events.is_empty() && events.selected_id().is_none());
    }

    #[test]
    fn flash_fades() {
        let flash = Flash { label: "micro".into(), started: 10.0 };
        assert_eq!(flash.strength(10.0), 1.0);
        assert!(flash.strength(10.6) > 0.4 && flash.strength(10.6) < 0.6);
        assert_eq!(flash.strength(10.0 + FLASH_SECONDS + 0.01), 0.0);
        assert_eq!(flash.strength(9.0), 0.0);
    }

    #[test]
    fn warnings_follow_the_inputs() {
        assert!(warnings(&WarningInputs::default()).is_empty(), "nothing running, nothing to warn");
        let mut inputs = WarningInputs { running: true, seconds_without_face: Some(0.1), ..Default::default() };
        assert!(warnings(&inputs).is_empty());
        inputs.seconds_without_face = Some(2.0);
        assert_eq!(warnings(&inputs), vec![Warning::NoFace]);
        inputs.seconds_without_face = Some(0.0);
        inputs.face_luminance = Some(30.0);
        assert_eq!(warnings(&inputs), vec![Warning::PoorLight { luminance: 30.0 }]);
        inputs.face_luminance = Some(120.0);
        inputs.reconnect_in = Some(2.0);
        let list = warnings(&inputs);
        assert_eq!(list, vec![Warning::CameraLost { retry_in: 2.0 }]);
        assert!(list[0].text().contains("reconnecting"));
    }

    #[test]
    fn smoothing_is_an_ema() {
        let mut smoother = DisplaySmoother::default();
        assert_eq!(smoother.update(1.0, 0.5), 1.0);
        assert_eq!(smoother.update(0.0, 0.5), 0.5);
        smoother.reset();
        assert_eq!(smoother.update(3.0, 0.1), 3.0);
    }
}
