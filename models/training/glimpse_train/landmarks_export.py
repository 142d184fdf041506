"""`python -m glimpse_train landmarks-export [--weights cache/landmarks_v2.pt]`: export the trained
landmark model, with the mirrored-crop average in the graph (build_model(flip_tta=True)), to
models/landmarks.onnx and write models/landmarks.golden.json:

- `inputs`/`points`: two crops from a formula (integers 0..255, see `golden_crops`) and the
  onnxruntime outputs (tolerance 1e-4 px);
- `astronaut`: the whole runtime path on assets/astronaut.png from a fixed face box (frame ->
  model crop exactly as src/inference/landmarks.rs builds it, the network, back to frame px),
  with the crop transform and the expected points in frame pixels (tolerance 0.05 px).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .export import MODELS_DIR, OPSET, export_checked, write_golden
from .landmarks import CACHE, CROP, REPO_ROOT, apply, box_similarity, build_model, canon_to_model, invert, warp

ASTRONAUT_BOX = [177.0, 66.0, 95.0, 95.0]   # x, y, w, h: where the Haar cascade puts it (OpenCV 5)


def golden_crops() -> np.ndarray:
    """[2,1,S,S] (S = CROP): x[n,0,h,w] = round(127.5 + 100 sin(0.21 (n+1) h + 0.13 w + n) cos(0.07 w - 0.05 h))."""
    n, h, w = np.meshgrid(np.arange(2), np.arange(CROP), np.arange(CROP), indexing="ij")
    x = 127.5 + 100 * np.sin(0.21 * (n + 1) * h + 0.13 * w + n) * np.cos(0.07 * w - 0.05 * h)
    return np.round(x).astype(np.float32)[:, None]


def export_landmarks(model, path: Path) -> None:
    import torch

    model.eval()
    dummy = torch.from_numpy(golden_crops()[:1, :, :model.crop, :model.crop].copy())
    torch.onnx.export(model, (dummy,), str(path), dynamo=False, input_names=["face"], output_names=["points"],
                      opset_version=OPSET, dynamic_axes={"face": {0: "N"}, "points": {0: "N"}})
    # The exporter leaves the point count symbolic; write the contract's static [N, 68, 2].
    import onnx

    m = onnx.load(str(path))
    dims = m.graph.output[0].type.tensor_type.shape.dim
    dims[1].Clear()
    dims[1].dim_value = 68
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def astronaut_case(sess) -> dict:
    import cv2

    bgr = cv2.imread(str(REPO_ROOT / "assets" / "astronaut.png"), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    m = canon_to_model(box_similarity(ASTRONAUT_BOX))
    crop = warp(gray, m).astype(np.float32)
    pts = sess.run(["points"], {"face": crop[None, None]})[0][0]
    frame_pts = apply(invert(m), pts.astype(np.float64))
    return {"box": ASTRONAUT_BOX, "frame_to_crop": m.tolist(), "crop": crop.astype(int).tolist(),
            "points_frame": np.round(frame_pts, 5).tolist(), "tolerance_px": 0.05,
            "note": "OpenCV versions may round a few interpolated pixels differently (by 1 grey level); "
                    "the crop is compared loosely, the points within tolerance_px"}


def main(argv=None):
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default=str(CACHE / "landmarks_v2.pt"))
    ap.add_argument("--out", default=str(MODELS_DIR / "landmarks.onnx"))
    a = ap.parse_args(argv)
    model = build_model(flip_tta=True)
    out = Path(a.out)
    x = golden_crops()
    sess, got, diff = export_checked(model, a.weights, export_landmarks, out, {"face": x}, "points")
    write_golden(model, out, {
        "input_name": "face", "output_name": "points",
        "input_formula": golden_crops.__doc__, "input_shape": list(x.shape),
        "inputs": x.astype(int).tolist(), "points": got.astype(np.float64).tolist(), "tolerance": 1e-4,
        "max_abs_diff_torch_vs_onnxruntime": diff,
        "astronaut": astronaut_case(sess),
    })
    return 0


if __name__ == "__main__":
    main()
