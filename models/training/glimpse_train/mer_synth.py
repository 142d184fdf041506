"""Synthetic micro-expression motion for pretraining the MER network (recipe `f5cnet_v4`,
reports/mer_v4_preregistration.md).

The MEGC2019 composite has 442 samples; the network must learn from them which motion pattern
means which class. Here a face photograph (the flow model's training faces: LFW and 300-W, never
its held-out ones) is framed as the MEGC flow images are (`models/mer.md`: eye centres at about
25 % / 75 % of the width and 20 % of the height), deformed by the facial action units that
FACS ties to each class, and run through the runtime preprocessing (`preprocess.py`: TV-L1 from
onset to apex, strain, 28x28, per-channel min-max). The labels come from the action units drawn:
- surprise: AU1+2 (brows and forehead up), sometimes AU5 (upper lids up), AU26 (jaw drop);
- positive: AU12 (lip corners up and out), sometimes AU6 (cheeks and lower lids up);
- negative: at least one of AU4 (brows down and together), AU7 (lower lids up), AU9 (nose
  wrinkled), AU10 (upper lip up), AU14 (lip corners in), AU15 (lip corners down), AU17 (chin up).
Each action unit is a few Gaussian displacement bumps (`flow.Field`) at the template's
landmarks as the jittered crop shows them; a third of the events are one-sided (the other side
weaker); every event has a small head motion (less than a pixel, as in lab recordings). Nothing here looks at the MEGC data.
`python -m glimpse_train mer-synth` writes cache/mer_synth.npz (derived from the faces: not
committed).
"""
from __future__ import annotations

import argparse
import math
import time
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from . import flow as F
from .landmarks import CACHE, TEMPLATE, compose
from .preprocess import flow_to_tensor, mer_frame, tvl1_flow

CROP = F.SIZE                  # 128: the onset/apex crops, framed like the MEGC flow images
AMPLITUDE_PX = (0.4, 2.5)      # an action unit's peak displacement at 128 px, log-uniform
SIGMA_IOD = (0.13, 0.22)       # bump width as a share of the inter-ocular distance (64 px here)
PER_CLASS = 2000
OUT = CACHE / "mer_synth.npz"
CLASS_INDEX = {"negative": 0, "positive": 1, "surprise": 2}


def canonical_to_megc() -> np.ndarray:
    """Similarity from the pipeline's canonical 128-px crop to the MEGC framing (`mer_frame`'s
    square onto the whole CROP-px crop)."""
    x0, y0, side = mer_frame(F.SIZE)
    s = CROP / side
    return np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


class Events:
    """Collects the bumps of one event; `side` scales the face's left/right halves (one-sided
    events)."""

    def __init__(self, pts: np.ndarray, rng: np.random.Generator):
        self.pts, self.rng = pts, rng
        self.iod = float(np.linalg.norm(pts[42:48].mean(0) - pts[36:42].mean(0)))
        self.centres, self.sigmas, self.vectors = [], [], []
        weak = rng.uniform(0.0, 0.5)
        self.side = {"left": 1.0, "right": 1.0}
        if rng.random() < 1 / 3:
            self.side[rng.choice(["left", "right"])] = weak

    def amplitude(self) -> float:
        return math.exp(self.rng.uniform(math.log(AMPLITUDE_PX[0]), math.log(AMPLITUDE_PX[1])))

    def bump(self, centre, direction, amp: float, width: float = 1.0):
        c = np.asarray(centre, np.float64) + self.rng.normal(0, 1.5, 2)
        side = self.side["left"] if c[0] < self.pts[27:31, 0].mean() else self.side["right"]
        sigma = self.rng.uniform(*SIGMA_IOD) * self.iod * width
        d = np.asarray(direction, np.float64)
        d = d / max(float(np.linalg.norm(d)), 1e-9)
        self.centres.append(c)
        self.sigmas.append(sigma)
        self.vectors.append(d * amp * side * self.rng.uniform(0.8, 1.2))

    # --- action units (image coordinates: +x right, +y down; point 48 is the image-left mouth corner)
    def au1_2(self, amp):      # brows and the forehead above them raised
        p = self.pts
        for i in (17, 19, 21, 22, 24, 26):
            self.bump(p[i], (0, -1), amp * 0.6)
            self.bump(p[i] - (0, 0.3 * self.iod), (0, -1), amp * 0.4)

    def au4(self, amp):        # brows lowered and drawn together
        p = self.pts
        for i, inward in ((20, 1), (21, 1), (22, -1), (23, -1)):
            self.bump(p[i], (0.6 * inward, 1), amp * 0.6)
        self.bump(p[27] - (0, 0.15 * self.iod), (0, 1), amp * 0.3, width=0.8)

    def au5(self, amp):        # upper lids raised
        for i in (37, 38, 43, 44):
            self.bump(self.pts[i], (0, -1), amp * 0.5, width=0.5)

    def au6(self, amp):        # cheeks raised, lower lids pushed up
        p = self.pts
        for eye, corner in ((range(36, 42), 48), (range(42, 48), 54)):
            e = p[list(eye)].mean(0)
            self.bump(e + 0.45 * (p[corner] - e), (0, -1), amp * 0.6)
        for i in (40, 41, 46, 47):
            self.bump(p[i], (0, -1), amp * 0.3, width=0.5)

    def au7(self, amp):        # lids tightened: lower lids up
        for i in (40, 41, 46, 47):
            self.bump(self.pts[i], (0, -1), amp * 0.5, width=0.5)

    def au9(self, amp):        # nose wrinkled: the nose's sides and the skin beside them up
        p = self.pts
        for i in (31, 35, 29):
            self.bump(p[i], (0, -1), amp * 0.6, width=0.7)

    def au10(self, amp):       # upper lip raised
        for i in (50, 51, 52):
            self.bump(self.pts[i], (0, -1), amp * 0.5, width=0.7)

    def au12(self, amp):       # lip corners pulled up and out
        p = self.pts
        self.bump(p[48], (-0.6, -0.8), amp)
        self.bump(p[54], (0.6, -0.8), amp)

    def au14(self, amp):       # lip corners tightened inwards (dimpler)
        p = self.pts
        self.bump(p[48], (1, -0.2), amp * 0.6, width=0.7)
        self.bump(p[54], (-1, -0.2), amp * 0.6, width=0.7)

    def au15(self, amp):       # lip corners pulled down
        p = self.pts
        self.bump(p[48], (-0.2, 1), amp * 0.8)
        self.bump(p[54], (0.2, 1), amp * 0.8)

    def au17(self, amp):       # chin raised, pushing the lower lip up
        p = self.pts
        self.bump((p[57] + p[8]) / 2, (0, -1), amp * 0.7)

    def au26(self, amp):       # jaw dropped
        p = self.pts
        for i in (57, 8):
            self.bump(p[i], (0, 1), amp * 0.7)


NEGATIVE_AUS = (("au4", 0.55), ("au7", 0.2), ("au9", 0.2), ("au10", 0.15), ("au14", 0.15),
                ("au15", 0.25), ("au17", 0.15))


def draw_event(cls: str, pts: np.ndarray, rng: np.random.Generator):
    """-> (Events with the class's action units, their names)."""
    ev = Events(pts, rng)
    aus = []
    if cls == "surprise":
        aus = ["au1_2"] + [a for a, p in (("au5", 0.3), ("au26", 0.3)) if rng.random() < p]
    elif cls == "positive":
        aus = ["au12"] + (["au6"] if rng.random() < 0.5 else [])
    else:
        while not aus:
            aus = [a for a, p in NEGATIVE_AUS if rng.random() < p]
    base = ev.amplitude()
    for a in aus:
        getattr(ev, a)(base * rng.uniform(0.6, 1.0) if a != aus[0] else base)
    return ev, aus


def make_sample(src: np.ndarray, to_canonical: np.ndarray, cls: str, rng: np.random.Generator):
    """One synthetic event: onset and apex crops (uint8) and the model input [3,28,28]."""
    jitter = F.crop_jitter(rng)                       # the framing differs from face to face
    to_crop = compose(jitter, compose(canonical_to_megc(), to_canonical))
    crop_to_src = F.invert(to_crop)
    pts = apply(compose(jitter, canonical_to_megc()), TEMPLATE)
    ev, aus = draw_event(cls, pts, rng)
    # lab recordings: the head barely moves (a rest, a still seat), so the action units dominate
    head = F.similarity_about_centre(math.radians(np.clip(rng.normal(0, 0.15), -0.5, 0.5)),
                                     float(np.clip(rng.normal(0, 0.002), -0.006, 0.006)),
                                     *np.clip(rng.normal(0, 0.2, 2), -0.6, 0.6))
    n = len(ev.sigmas)
    field = F.Field(np.array(ev.centres).reshape(n, 2), np.array(ev.sigmas), np.array(ev.vectors).reshape(n, 2),
                    np.zeros((n, 2, 2)), head)
    ys, xs = np.mgrid[0:CROP, 0:CROP].astype(np.float64)
    onset = F.sample(src, crop_to_src, xs, ys)
    mx, my = field.backward_map()
    apex = F.sample(src, crop_to_src, mx, my)
    if rng.random() < 0.5:       # half as a webcam would see them, half as clean as a lab camera
        onset, apex = F.degrade(onset, apex, rng, strength=0.5)
    onset, apex = (np.clip(np.round(x), 0, 255).astype(np.uint8) for x in (onset, apex))
    return onset, apex, flow_to_tensor(tvl1_flow(onset, apex)), aus


_POOL: F.FacePool | None = None
_FACES: np.ndarray | None = None   # the pool's training faces


def _init(shared):
    import cv2

    global _POOL, _FACES
    cv2.setNumThreads(1)
    _POOL = F.build_pool(shared)
    _FACES = np.flatnonzero(~_POOL.held_out)


def _work(job):
    i, seed, cls = job
    rng = np.random.default_rng([seed, i])
    j = int(_FACES[rng.integers(len(_FACES))])
    _, _, x, aus = make_sample(_POOL.images[j], _POOL.to_crop[j], cls, rng)
    return i, x, CLASS_INDEX[cls], "+".join(aus), _POOL.ids[j]


def build(per_class: int = PER_CLASS, seed: int = 2024, jobs: int = 2, shared=None, out: Path = OUT) -> Path:
    """Event i uses the generator seeded (seed, i), so the set does not depend on `jobs`."""
    classes = [c for c in CLASS_INDEX for _ in range(per_class)]
    todo = [(i, seed, c) for i, c in enumerate(classes)]
    x = np.zeros((len(todo), 3, 28, 28), np.float32)
    y = np.zeros(len(todo), np.int64)
    aus, ids = [""] * len(todo), [""] * len(todo)
    t0 = time.time()
    with Pool(jobs, initializer=_init, initargs=(shared,)) as pool:
        for k, (i, xi, yi, a, face) in enumerate(pool.imap_unordered(_work, todo, chunksize=16)):
            x[i], y[i], aus[i], ids[i] = xi, yi, a, face
            if (k + 1) % 500 == 0:
                print(f"  {k + 1}/{len(todo)} events, {time.time() - t0:.0f}s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x=x, y=y, aus=np.array(aus), faces=np.array(ids), seed=seed)
    print(f"wrote {out}: {len(y)} events in {time.time() - t0:.0f}s")
    return out


@lru_cache(maxsize=1)
def load(path: Path = OUT):
    """-> (x [N,3,28,28] float32, y [N]); kept after the first call (every member of every fold
    of a co-training recipe uses it)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no synthetic pretraining set; run `python -m glimpse_train mer-synth` first")
    z = np.load(path)
    return z["x"], z["y"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=PER_CLASS)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", default=None, help="shared root (default $GLIMPSE_SHARED or ../shared)")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    build(a.per_class, a.seed, a.jobs, a.data, Path(a.out))


if __name__ == "__main__":
    main()
