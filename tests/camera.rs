//! Tests that need a real camera. No camera exists on CI or the development machines, so they
//! are ignored there; run them with `cargo test --release -- --ignored` on a machine with one.

use glimpse::capture::{CameraSource, CameraSpec, Source, TimeBase};

#[test]
#[ignore = "needs a camera attached (none on CI or the development machines)"]
fn camera_delivers_frames_stamped_with_the_monotonic_capture_clock() {
    let mut camera = CameraSource::open(CameraSpec::default()).expect("a camera at index 0");
    let mut previous_ns = 0;
    for _ in 0..30 {
        let frame = camera.next_frame().unwrap().expect("a live camera does not end");
        assert_eq!(frame.time.base, TimeBase::Capture);
        assert!(frame.time.capture_ns > previous_ns, "capture time strictly increases");
        previous_ns = frame.time.capture_ns;
        assert_eq!((frame.width(), frame.height()), (camera.info().width, camera.info().height));
    }
}
