//! glimpse: a real-time micro-expression analyser.
//!
//! One frame's way through the program, module by module:
//! [`capture`] (camera, file, synthetic; timestamps) -> [`buffer`] (drop-oldest ring) ->
//! [`face`] (detect, track, align) -> [`motion`] (flow, head motion removed, region signals) ->
//! [`spotting`] (streaming onset/apex/offset) -> [`recognition`] (emotion, AU guess, pictures of
//! each event) -> [`pipeline`] (threads, channels, timings) -> [`session`] (files), the window in
//! [`ui`] and the CLI in [`commands`].
//! [`synth`] makes the synthetic face video with its ground truth; [`inference`] loads ONNX
//! Runtime for the project's models.

pub mod buffer;
pub mod capture;
pub mod commands;
pub mod face;
pub mod inference;
pub mod motion;
pub mod pipeline;
pub mod recognition;
pub mod recording;
pub mod review;
pub mod session;
pub mod spotting;
pub mod synth;
pub mod ui;
