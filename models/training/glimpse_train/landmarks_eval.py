"""`python -m glimpse_train landmarks-eval [--model ../landmarks.onnx]`: NME of the shipped
landmark model and of the MediaPipe teacher on 300-W `helen_test` and YTF `test`, and the
model's speed through onnxruntime. Writes reports/landmarks_eval.json.

NME: mean point-to-point error over the 68 points / the inter-ocular distance (outer eye
corners 36-45, the 300-W convention), averaged over faces; also the median and the share of
faces above 10 % (failures).

Our model sees the faces as the runtime does: (1) a crop from a face box, emulated by the
training-time 'box' perturbation of the label-fitted similarity, seeded per image so every run
sees the same crops (face roll kept, scale +-10 %, centre +-6 % of the crop); (2) then, as in
tracking, a crop re-made from its own first points. The teacher gets its usual ROI: a square
around the labelled points with 25 % margin, then re-centred on its own mesh (2 passes), and
its 468 points go through the fitted 468 -> 68 map (reports/landmarks_teacher_map.json, fitted
on 300-W training faces only).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .export import MODELS_DIR, ort_session
from .landmarks import (Teacher, apply, invert, landmark_crop_transform, load_set, nme, seeded_eval_transform, warp)
from .loso import REPORTS


def predict(sess, gray: np.ndarray, m: np.ndarray) -> np.ndarray:
    crop = warp(gray, m).astype(np.float32)
    pts = sess.run(["points"], {"face": crop[None, None]})[0][0].astype(np.float64)
    return apply(invert(m), pts)


CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def haar_box(cascade, gray: np.ndarray, gt: np.ndarray):
    """The runtime's detector box for this face (Debian's cascade, as src/face/detect.rs
    uses it): the largest detection containing the labels' centre, or None."""
    c = gt.mean(0)
    faces = [f for f in cascade.detectMultiScale(gray, 1.1, 4, minSize=(24, 24))
             if f[0] < c[0] < f[0] + f[2] and f[1] < c[1] < f[1] + f[3]]
    return max(faces, key=lambda f: f[2] * f[3]) if faces else None


def ours(sess, s) -> dict:
    import os

    import cv2

    from .landmarks import box_similarity, canon_to_model

    p1, p2 = [], []
    for i, (im, gt) in enumerate(zip(s.images, s.points)):
        a = predict(sess, im, seeded_eval_transform(gt, i))
        b = predict(sess, im, landmark_crop_transform(a))
        p1.append(a)
        p2.append(b)
    out = {"box_crop": summary(nme(np.array(p1), s.points)), "tracking_crop": summary(nme(np.array(p2), s.points))}
    out["tracking_crop"]["per_region"] = per_region(np.array(p2), s.points)
    if os.path.isfile(CASCADE):
        cascade = cv2.CascadeClassifier(CASCADE)
        ph, idx = [], []
        for i, (im, gt) in enumerate(zip(s.images, s.points)):
            box = haar_box(cascade, im, gt)
            if box is None:
                continue
            a = predict(sess, im, canon_to_model(box_similarity([float(v) for v in box])))
            ph.append(predict(sess, im, landmark_crop_transform(a)))
            idx.append(i)
        e = nme(np.array(ph), s.points[idx])
        out["haar_box_then_tracking_crop"] = summary(e)
        out["haar_box_then_tracking_crop"]["faces_without_detection"] = len(s.images) - len(idx)
        out["tracking_crop_same_faces"] = summary(nme(np.array(p2)[idx], s.points[idx]))
    return out


def teacher_nme(teacher, mp, s_color) -> dict:
    pred = np.array([mp(teacher.mesh(im, gt)) for im, gt in zip(s_color.images, s_color.points)])
    out = summary(nme(pred, s_color.points))
    out["per_region"] = per_region(pred, s_color.points)
    return out


REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}


def per_region(pred: np.ndarray, truth: np.ndarray) -> dict:
    err = np.linalg.norm(pred - truth, axis=-1) / np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)[:, None]
    return {k: round(float(err[:, list(v)].mean()), 5) for k, v in REGIONS.items()}


def summary(e: np.ndarray) -> dict:
    return {"nme_mean": round(float(e.mean()), 5), "nme_median": round(float(np.median(e)), 5),
            "failure_rate_10pct": round(float((e > 0.10).mean()), 4), "faces": int(len(e))}


def speed(path, threads: int, reps: int = 1000) -> dict:
    sess = ort_session(path, threads)
    side = sess.get_inputs()[0].shape[2]  # the model's own crop size (v1: 96)
    x = np.random.default_rng(0).uniform(0, 255, (1, 1, side, side)).astype(np.float32)
    for _ in range(50):
        sess.run(["points"], {"face": x})
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        sess.run(["points"], {"face": x})
        ts.append(time.perf_counter() - t)
    ts = np.array(ts) * 1000
    return {"threads": threads, "median_ms": round(float(np.median(ts)), 3), "p90_ms": round(float(np.percentile(ts, 90)), 3),
            "p99_ms": round(float(np.percentile(ts, 99)), 3), "reps": reps}


def main(argv=None):
    import cv2

    cv2.setNumThreads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=str(MODELS_DIR / "landmarks.onnx"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-teacher", action="store_true")
    a = ap.parse_args(argv)
    sess = ort_session(a.model, 1)
    sets = {"300w_helen_test": ("300w", ("helen_test",)), "ytf_test": ("ytf", ("test",))}
    report = {"model": a.model, "nme_normaliser": "outer eye corners (36, 45)", "sets": {}}
    if not a.no_teacher:
        from .landmarks_teacher import load_map

        teacher, mp = Teacher(a.data), load_map()
    for key, (which, subsets) in sets.items():
        s = load_set(which, subsets, a.data)
        row = {"ours": ours(sess, s)}
        if not a.no_teacher:
            row["teacher_mediapipe_mapped"] = teacher_nme(teacher, mp, load_set(which, subsets, a.data, color=True))
        report["sets"][key] = row
        print(key, json.dumps(row), flush=True)
    report["speed_onnxruntime_batch1"] = [speed(a.model, 1), speed(a.model, 2)]
    print(json.dumps(report["speed_onnxruntime_batch1"]))
    (REPORTS / "landmarks_eval.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    main()
