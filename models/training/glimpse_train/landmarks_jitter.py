"""`python -m glimpse_train landmarks-jitter`: landmark jitter of the whole runtime path on still
faces, from the `frames.csv` that `glimpse analyse` writes.

    # (a) a still image with sensor noise: assets/astronaut.png, 150 frames at 30 fps, fresh
    #     Gaussian noise (sigma 3 grey levels) per frame, written losslessly (FFV1)
    python -m glimpse_train landmarks-jitter --make-still /tmp/still.avi
    glimpse analyse /tmp/still.avi --out /tmp/still
    python -m glimpse_train landmarks-jitter --csv /tmp/still/frames.csv --still
    # (b) a real clip: the same on a video from ../shared/data/videos
    python -m glimpse_train landmarks-jitter --csv /tmp/talking/frames.csv

Measures, over the main face's frames (`success = 1`, the most frequent face_id) after the
first `--skip` frames of its track:
- still (a): each point's standard deviation over time (radial: sqrt(var x + var y)), averaged
  over the 68 points;
- any clip: the high-pass residual: each point minus a local quadratic fit over the 7 frames
  centred on it (Savitzky-Golay), scaled so that white noise of std s gives s, RMS over frames,
  averaged over points. Smooth real motion is removed, frame-to-frame jitter is kept (fast
  real motion, e.g. speech, still counts: an upper bound on real footage).
Both in pixels and in % of the inter-ocular distance (outer eye corners 36-45, median over frames).
Also for the 'rigid' points only (eye corners 36, 39, 42, 45 and the nose 27-35), which do not
move when a person talks.
"""
from __future__ import annotations

import argparse
import csv
import json

import numpy as np

from .landmarks import REPO_ROOT

RIGID = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45]


def make_still(path: str, frames: int = 150, sigma: float = 3.0, seed: int = 0) -> None:
    import cv2

    img = cv2.imread(str(REPO_ROOT / "assets" / "astronaut.png"), cv2.IMREAD_COLOR).astype(np.float32)
    rng = np.random.default_rng(seed)
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (img.shape[1], img.shape[0]))
    if not w.isOpened():
        raise RuntimeError(f"cannot write {path} with FFV1")
    for _ in range(frames):
        w.write(np.clip(np.round(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8))
    w.release()


def read_points(path: str, skip: int):
    """Points of the main face (the face_id with the most measured rows), skipping the first
    `skip` rows of its track; also its box centres."""
    from collections import Counter

    rows = list(csv.DictReader(open(path, newline="")))
    ok = [r for r in rows if r["success"] == "1" and r["x_0"] != ""]
    main_id = Counter(r["face_id"] for r in ok).most_common(1)[0][0]
    track = [r for r in ok if r["face_id"] == main_id][skip:]
    pts = np.array([[[float(r[f"x_{i}"]), float(r[f"y_{i}"])] for i in range(68)] for r in track])
    boxes = np.array([[float(r["face_x"]) + float(r["face_w"]) / 2, float(r["face_y"]) + float(r["face_h"]) / 2,
                       float(r["face_w"])] for r in track])
    return pts, boxes, len(rows)


def jitter(pts: np.ndarray, still: bool) -> dict:
    iod = float(np.median(np.linalg.norm(pts[:, 36] - pts[:, 45], axis=-1)))
    out = {"frames": int(len(pts)), "iod_px": round(iod, 2)}

    def both(name, per_point):
        for tag, idx in (("all68", slice(None)), ("rigid", RIGID)):
            v = float(per_point[idx].mean())
            out[f"{name}_{tag}_px"] = round(v, 4)
            out[f"{name}_{tag}_pct_iod"] = round(100 * v / iod, 3)

    if still:
        both("std", np.sqrt(pts.var(0).sum(-1)))
    # Savitzky-Golay, 7 frames, quadratic: follows smooth motion (and its acceleration); the
    # residual of white noise of std s has std s * sqrt(1 - 7/21), undone below.
    k = np.array([-2, 3, 6, 7, 6, 3, -2]) / 21.0
    smooth = np.stack([np.stack([np.convolve(pts[:, i, c], k[::-1], mode="valid") for c in range(2)], -1)
                       for i in range(68)], 1)
    resid = (pts[3:-3] - smooth) / np.sqrt(1 - 7 / 21)
    both("highpass", np.sqrt((resid ** 2).sum(-1).mean(0)))
    return out


def teacher_points(video: str, first: np.ndarray, skip_frames: int) -> np.ndarray:
    """The MediaPipe teacher over a video, tracking as MediaPipe does (each ROI from the
    previous frame's mesh; the first from `first`, our points of the first used frame), mapped
    to 68 points: the same jitter measure for comparison."""
    import cv2

    from .landmarks import Teacher
    from .landmarks_teacher import load_map

    teacher, mp = Teacher(), load_map()
    cap = cv2.VideoCapture(video)
    out, hint = [], first
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        if index <= skip_frames:
            continue
        mesh = teacher.mesh(frame, hint, passes=1)
        hint = mesh
        out.append(mp(mesh))
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-still", help="write the noisy still video here")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--sigma", type=float, default=3.0)
    ap.add_argument("--csv", nargs="*", default=[])
    ap.add_argument("--still", action="store_true", help="the clip is a still face: also report std over time")
    ap.add_argument("--skip", type=int, default=5, help="frames to skip at the start (track start-up)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--teacher-video", nargs="*", default=[],
                    help="for each --csv, its video: also measure the MediaPipe teacher on it")
    a = ap.parse_args(argv)
    if a.make_still:
        make_still(a.make_still, a.frames, a.sigma)
        print(f"wrote {a.make_still}: {a.frames} frames, noise sigma {a.sigma}")
    results = {}
    for path in a.csv:
        pts, boxes, n = read_points(path, a.skip)
        r = jitter(pts, a.still)
        r["rows"] = n
        # how much the head moves (tracked box centre, % of its width): to tell calm clips
        r["box_centre_range_pct_width"] = round(float(100 * np.ptp(boxes[:, :2], 0).max() / np.median(boxes[:, 2])), 1)
        if a.teacher_video:
            import csv as _csv

            video = a.teacher_video[a.csv.index(path)]
            rows = list(_csv.DictReader(open(path, newline="")))
            from collections import Counter

            ok = [r_ for r_ in rows if r_["success"] == "1" and r_["x_0"] != ""]
            main_id = Counter(r_["face_id"] for r_ in ok).most_common(1)[0][0]
            track = [r_ for r_ in ok if r_["face_id"] == main_id][a.skip:]
            start = int(track[0]["frame"])  # frames numbered from 1
            first = np.array([[float(track[0][f"x_{i}"]), float(track[0][f"y_{i}"])] for i in range(68)])
            tp = teacher_points(video, first, start - 1)[: len(track)]
            r["teacher_mediapipe"] = jitter(tp, a.still)
        results[path] = r
        print(path, json.dumps(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    main()
