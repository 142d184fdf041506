//! Helpers shared by the integration tests.

/// The camera-loss drill: synthetic frames on the capture time base until the camera is "unplugged".
pub use glimpse::capture::UnpluggedCamera;
