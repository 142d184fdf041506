"""The optical-flow model (`models/flow.onnx`): training pairs synthesised from real faces, the
network, and the classical baselines it is compared with. See `models/flow.md`.

Crops (the contract the Rust side feeds, `src/motion/mod.rs`): the pipeline's 128-px canonical
grayscale crop of `src/face/template.rs` (frame -> crop similarity, bilinear, replicated
border), two crops 100 ms apart. The network returns the flow taking `previous` to `current`
(`current(x + u, y + v) ~ previous(x, y)`, OpenCV's convention) in crop pixels.

A training pair is made from one face image: crop A is the canonical crop with a small random
similarity error (the tracker's box is never exact); crop B is A's face deformed by a random
smooth field: Gaussian AU-like displacement bumps (and local stretches) of 0.2-4 px around
brows, eyes, nose, cheeks and mouth, then a small global similarity (head motion). Both crops
are one bilinear sample of the source image (no double interpolation), then get the same
blur/resolution loss and independent noise, JPEG and brightness flicker. The ground truth is
the forward flow of that field, solved exactly (the bumps are analytic; a fixed-point solve
inverts the backward map).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .data import default_shared
from .landmarks import CACHE, TEMPLATE, box_similarity, compose, fit_similarity, invert, load_set

SIZE = 128                 # the pipeline's aligned crop (src/pipeline: crop_size)
HELD_OUT_MOD = 10          # LFW people with crc32(name) % 10 == 0 are held out (plus 300-W helen_test)

# AU-relevant template points (iBUG indices) where local motion is centred.
AU_POINTS = {
    "brows": list(range(17, 27)),
    "eyes": [37, 38, 40, 41, 43, 44, 46, 47],
    "nose": [27, 29, 31, 33, 35],
    "cheeks": [2, 3, 13, 14, 31, 35],
    "mouth": list(range(48, 60)) + [62, 66],
    "chin": [7, 8, 9, 57],
}


# ---------------------------------------------------------------- faces
@dataclass
class FacePool:
    images: list          # grayscale uint8 source images
    to_crop: np.ndarray   # [N,2,3] source -> canonical 128 crop
    ids: list             # person / image id
    held_out: np.ndarray  # [N] bool


def lfw_person(name: str) -> str:
    """Aaron_Eckhart_0001.jpg -> Aaron_Eckhart."""
    return Path(name).stem.rsplit("_", 1)[0]


def is_held_out_person(person: str) -> bool:
    return zlib.crc32(person.encode()) % HELD_OUT_MOD == 0


CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def haar_cascade():
    import cv2

    path = CASCADE if Path(CASCADE).is_file() else str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    return cv2.CascadeClassifier(path)


def lfw_similarity(cascade, gray: np.ndarray) -> np.ndarray | None:
    """The pipeline's default alignment for an LFW face: the Haar box (largest detection near
    the image centre) -> canonical crop, as `Similarity::from_box`."""
    h, w = gray.shape
    faces = [f for f in cascade.detectMultiScale(gray, 1.1, 4, minSize=(40, 40))
             if abs(f[0] + f[2] / 2 - w / 2) < w * 0.2 and abs(f[1] + f[3] / 2 - h / 2) < h * 0.2]
    if not faces:
        return None
    return box_similarity([float(v) for v in max(faces, key=lambda f: f[2] * f[3])])


def build_pool(shared=None, lfw_limit: int = 0) -> FacePool:
    """LFW (Haar-box alignment, as the pipeline's default) and 300-W (alignment on the labelled
    landmarks, as `--align-by landmarks`). Held out: LFW people by name hash, 300-W helen_test.
    The similarities are cached in cache/flow_faces.npz (derived geometry only, no pixels)."""
    import cv2

    root = Path(shared or default_shared()) / "data" / "faces" / "lfw"
    names = sorted(p.name for p in root.glob("*.jpg"))
    if lfw_limit:
        names = names[:lfw_limit]
    cache = CACHE / "flow_faces.npz"
    cached = {}
    if cache.is_file():
        z = np.load(cache)
        cached = dict(zip(z["names"].tolist(), z["m"]))
    images, ms, ids, held = [], [], [], []
    cascade = None
    new = {}
    for n in names:
        gray = cv2.imread(str(root / n), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise FileNotFoundError(root / n)
        m = cached.get(n)
        if m is None:
            cascade = cascade or haar_cascade()
            m = lfw_similarity(cascade, gray)
            m = np.full((2, 3), np.nan) if m is None else m
            new[n] = m
        if np.isnan(m).any():
            continue
        images.append(gray)
        ms.append(m)
        ids.append(f"lfw:{lfw_person(n)}")
        held.append(is_held_out_person(lfw_person(n)))
    if new:
        CACHE.mkdir(parents=True, exist_ok=True)
        allm = {**cached, **new}
        np.savez(cache, names=np.array(list(allm)), m=np.array(list(allm.values())))
    for subsets, h in ((("afw", "helen"), False), (("helen_test",), True)):
        s = load_set("300w", subsets, shared)
        for im, pts, name in zip(s.images, s.points, s.ids):
            images.append(im)
            ms.append(fit_similarity(pts, TEMPLATE))
            ids.append(f"300w:{name}")
            held.append(h)
    return FacePool(images, np.array(ms), ids, np.array(held))


# ---------------------------------------------------------------- fields
def similarity_about_centre(rot: float, scale: float, tx: float, ty: float, c: float = SIZE / 2) -> np.ndarray:
    a, b = math.cos(rot) * (1 + scale), math.sin(rot) * (1 + scale)
    return np.array([[a, -b, c - (a * c - b * c) + tx], [b, a, c - (b * c + a * c) + ty]])


@dataclass
class Field:
    """Local bumps (analytic) and a global similarity G, in crop pixels. The deformed face is
    `B(y) = A(M(y))`, `M(y) = L(G^-1 y)`, with the local backward map `L(z) = z - D(z)`."""
    centres: np.ndarray   # [K,2]
    sigmas: np.ndarray    # [K]
    vectors: np.ndarray   # [K,2] translation part (px)
    mats: np.ndarray      # [K,2,2] local stretch/shear part (px per sigma)
    g: np.ndarray         # [2,3] global similarity
    lids: tuple = ()      # closing upper eyelids (`Lid`), applied before the bumps: M(y) = L(K(G^-1 y))

    def local_backward(self, x: np.ndarray, y: np.ndarray):
        du = np.zeros_like(x)
        dv = np.zeros_like(y)
        for c, s, vec, m in zip(self.centres, self.sigmas, self.vectors, self.mats):
            rx, ry = (x - np.float32(c[0])) / np.float32(s), (y - np.float32(c[1])) / np.float32(s)
            g = np.exp(np.float32(-0.5) * (rx * rx + ry * ry))
            du += g * (vec[0] + m[0, 0] * rx + m[0, 1] * ry)
            dv += g * (vec[1] + m[1, 0] * rx + m[1, 1] * ry)
        return du, dv

    def forward_local(self, x: np.ndarray, y: np.ndarray, iterations: int = 10):
        """F with x + F(x) = z, z - D(z) = x: the fixed point F = D(x + F) (a contraction: the
        displacement gradient is kept under 0.45, so 10 steps leave < 0.002 px)."""
        fu, fv = np.zeros_like(x), np.zeros_like(y)
        if len(self.sigmas) == 0:
            return fu, fv
        for _ in range(iterations):
            fu, fv = self.local_backward(x + fu, y + fv)
        return fu, fv

    def backward_map(self):
        """M(y) on the crop grid, float32 maps (crop px of A)."""
        ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        gi = invert(self.g)
        zx = gi[0, 0] * xs + gi[0, 1] * ys + gi[0, 2]
        zy = gi[1, 0] * xs + gi[1, 1] * ys + gi[1, 2]
        for lid in self.lids:
            zy = lid.backward(zx, zy)
        du, dv = self.local_backward(zx, zy)
        return zx - du, zy - dv

    def flow(self):
        """Forward flow [2,128,128] (u, v) from A to B and the local part alone. Where a closing
        eyelid covers a pixel of A in B, both are NaN (no truth there)."""
        ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        fu, fv = self.forward_local(xs, ys)
        px, py = xs + fu, ys + fv
        if self.lids:
            for lid in reversed(self.lids):
                py = lid.forward(px, py)
            fv = py - ys
        g = self.g
        u = g[0, 0] * px + g[0, 1] * py + g[0, 2] - xs
        v = g[1, 0] * px + g[1, 1] * py + g[1, 2] - ys
        return np.stack([u, v]).astype(np.float32), np.stack([fu, fv]).astype(np.float32)


@dataclass
class Lid:
    """An upper eyelid closing by `closure` (0 open .. 1 shut), as the synthetic face blinks
    (`src/synth/face.rs`, `Eye::backward`): the lid edge slides down from the upper lid line
    towards the lower one, the band of lid skin `skin` px above it stretches down with it, and
    the eye it covers is occluded. Vertical motion only, zero at the eye corners and at the top
    of the skin band, so the brows above stay still. Lines are x-increasing polylines in crop px."""
    upper: np.ndarray     # [4,2] corner, two lid points, corner
    lower: np.ndarray     # [4,2]
    skin: float
    closure: float

    def _lines(self, x):
        yu = np.interp(x, self.upper[:, 0], self.upper[:, 1]).astype(np.float32)
        yl = np.interp(x, self.lower[:, 0], self.lower[:, 1]).astype(np.float32)
        inside = (x > self.upper[0, 0]) & (x < self.upper[-1, 0])
        top = yu - np.float32(self.skin)
        return yu, yu + np.float32(self.closure) * (yl - yu), top, inside

    def backward(self, x, y):
        """The y of the open-eye point shown at (x, y) of the closing eye."""
        yu, edge, top, inside = self._lines(x)
        band = inside & (y >= top) & (y <= edge)
        stretched = top + (y - top) * (yu - top) / np.maximum(edge - top, np.float32(1e-3))
        return np.where(band, stretched, y).astype(np.float32)

    def forward(self, x, y):
        """Where the open-eye point (x, y) goes as the eye closes; NaN where the lid covers it."""
        yu, edge, top, inside = self._lines(x)
        skin = inside & (y >= top) & (y <= yu)
        covered = inside & (y > yu) & (y <= edge)
        moved = top + (y - top) * (edge - top) / np.maximum(yu - top, np.float32(1e-3))
        return np.where(covered, np.float32(np.nan), np.where(skin, moved, y)).astype(np.float32)


SIGMA_PX = (5.0, 16.0)     # the bumps' width (sigma, crop px) in the shipped model's pairs
FOREHEAD_RAISE = 0.3       # forehead centres: the brow points raised by this share of the inter-ocular distance


def forehead_points() -> np.ndarray:
    """[10,2] template points on the forehead above each brow point, where brow raisers (AU1, AU2)
    move the skin: smooth skin with little texture, which the brow-centred bumps barely reach."""
    iod = float(np.linalg.norm(TEMPLATE[36:42].mean(0) - TEMPLATE[42:48].mean(0)))
    return TEMPLATE[17:27] - np.array([0.0, FOREHEAD_RAISE * iod])


VERTICAL_SPREAD_DEG = 15.0   # how far a vertical brow bump's direction strays from straight up or down
BROW_LOWERER_TILT_DEG = (10.0, 45.0)   # a lowered brow's direction: down, turned this far towards the midline
MIDLINE_X = float(TEMPLATE[27:31, 0].mean())   # the template's nose bridge: the face's midline in the crop


def brow_action_vector(rng: np.random.Generator, centre: np.ndarray, amp: float) -> np.ndarray:
    """A brow bump moving as FACS's brow actions move the brows: half raise them (AU1, AU2: up,
    within `VERTICAL_SPREAD_DEG`), half lower them (AU4: down and pulled together, i.e. turned
    `BROW_LOWERER_TILT_DEG` towards the face's midline). The medial part of AU4 runs along the
    brow's edge, where the image alone cannot say how far it moved (session 16)."""
    if rng.random() < 0.5:
        ang = -math.pi / 2 + math.radians(rng.uniform(-VERTICAL_SPREAD_DEG, VERTICAL_SPREAD_DEG))
        return amp * np.array([math.cos(ang), math.sin(ang)])
    tilt = math.radians(rng.uniform(*BROW_LOWERER_TILT_DEG))
    medial = 1.0 if centre[0] < MIDLINE_X else -1.0
    return amp * np.array([medial * math.sin(tilt), math.cos(tilt)])


SMALL_HEAD_SCALE = 0.15   # `small_head` pairs: head motion this share of the usual (shift ~0.15 px per axis)


def random_field(rng: np.random.Generator, sigma_px: tuple = SIGMA_PX, forehead: bool = False,
                 vertical_brows: float = 0.0, brow_actions: float = 0.0, small_head: float = 0.0) -> Field:
    """0-5 AU-like bumps (peak 0.2-4 px, log-uniform; sigma uniform in `sigma_px`) at jittered
    template points, some with a local stretch; a small head motion (rotation ~0.6 deg, scale
    ~0.8 %, shift ~1 px). `forehead` adds the forehead (`forehead_points`) as a seventh region;
    `vertical_brows`: that share of the bumps on the brows and forehead move up or down (within
    `VERTICAL_SPREAD_DEG`), as the brow actions AU1, AU2 and AU4 do, instead of in any direction;
    `brow_actions`: that share of them move as raised or lowered brows (`brow_action_vector`).
    `small_head`: that share of the pairs have their head motion scaled by `SMALL_HEAD_SCALE`, as
    a face between two frames 100 ms apart moves (session 17: the neutral pairs of development
    seeds 101-103 move 0.11 px on average, p90 0.19; the usual draw ~1.3 px).
    Without them the draws are those of the shipped model's pairs."""
    k = int(rng.choice([0, 1, 2, 3, 4, 5], p=[0.12, 0.22, 0.24, 0.2, 0.14, 0.08]))
    points = {name: TEMPLATE[ids] for name, ids in AU_POINTS.items()}
    if forehead:
        points["forehead"] = forehead_points()
    regions = list(points)
    centres, sigmas, vectors, mats = [], [], [], []
    for _ in range(k):
        region = regions[rng.integers(len(regions))]
        pts = points[region]
        c = pts[rng.integers(len(pts))] + rng.normal(0, 3, 2)
        s = rng.uniform(*sigma_px)
        amp = math.exp(rng.uniform(math.log(0.2), math.log(4.0)))
        ang = rng.uniform(0, 2 * math.pi)
        if vertical_brows and region in ("brows", "forehead") and rng.random() < vertical_brows:
            ang = math.pi / 2 * rng.choice([-1, 1]) + math.radians(rng.uniform(-VERTICAL_SPREAD_DEG, VERTICAL_SPREAD_DEG))
        vec = amp * np.array([math.cos(ang), math.sin(ang)])
        if brow_actions and region in ("brows", "forehead") and rng.random() < brow_actions:
            vec = brow_action_vector(rng, c, amp)
        m = np.zeros((2, 2))
        if rng.random() < 0.4:   # a local stretch/shear: |m| * sigma-units ~ amp
            m = rng.normal(0, 1, (2, 2))
            m *= amp * rng.uniform(0.3, 1.0) / max(np.abs(m).sum(1).max(), 1e-6)
            vec *= rng.uniform(0, 1)
        # keep the map invertible: the displacement gradient stays well below 1
        grad = (np.abs(vec).max() + np.abs(m).max() * 2) / s
        if grad > 0.45:
            f = 0.45 / grad
            vec, m = vec * f, m * f
        centres.append(c)
        sigmas.append(s)
        vectors.append(vec)
        mats.append(m)
    if rng.random() < 0.08:
        g = similarity_about_centre(0, 0, 0, 0)             # a perfectly still head
    else:
        rot, scale = math.radians(np.clip(rng.normal(0, 0.6), -2, 2)), float(np.clip(rng.normal(0, 0.008), -0.025, 0.025))
        shift = np.clip(rng.normal(0, 1.0, 2), -3.5, 3.5)
        if small_head and rng.random() < small_head:
            rot, scale, shift = rot * SMALL_HEAD_SCALE, scale * SMALL_HEAD_SCALE, shift * SMALL_HEAD_SCALE
        g = similarity_about_centre(rot, scale, *shift)
    return Field(np.array(centres).reshape(-1, 2), np.array(sigmas), np.array(vectors).reshape(-1, 2),
                 np.array(mats).reshape(-1, 2, 2), g)


# ---------------------------------------------------------------- pairs
def crop_jitter(rng: np.random.Generator) -> np.ndarray:
    """Canonical crop -> jittered crop: the tracker's box error (scale +-5 %, shift ~3 px, roll ~2 deg)."""
    return similarity_about_centre(math.radians(np.clip(rng.normal(0, 2), -6, 6)),
                                   float(np.clip(rng.normal(0, 0.04), -0.1, 0.1)), *np.clip(rng.normal(0, 3, 2), -8, 8))


def sample(src: np.ndarray, crop_to_src: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear sample of src at crop_to_src(mx, my), replicated border (as warpAffine does)."""
    import cv2

    a = crop_to_src
    sx = (a[0, 0] * mx + a[0, 1] * my + a[0, 2]).astype(np.float32)
    sy = (a[1, 0] * mx + a[1, 1] * my + a[1, 2]).astype(np.float32)
    return cv2.remap(src.astype(np.float32), sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def degrade(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, strength: float = 1.0):
    """Shared loss of detail (blur, lower resolution, contrast), then per-frame flicker, sensor
    noise and JPEG: what a webcam does to two frames 100 ms apart."""
    import cv2

    pair = [a, b]
    if rng.random() < 0.5:
        s = rng.uniform(0.3, 1.2)
        pair = [cv2.GaussianBlur(x, (0, 0), s) for x in pair]
    if rng.random() < 0.3:
        f = rng.uniform(0.45, 0.9)
        n = int(SIZE * f)
        pair = [cv2.resize(cv2.resize(x, (n, n), interpolation=cv2.INTER_AREA), (SIZE, SIZE),
                           interpolation=cv2.INTER_LINEAR) for x in pair]
    if rng.random() < 0.6:
        gain, off, gamma = rng.uniform(0.6, 1.3), rng.uniform(-30, 30), rng.uniform(0.7, 1.4)
        pair = [255.0 * np.clip((x * gain + off) / 255.0, 0, 1) ** gamma for x in pair]
    out = []
    for x in pair:
        if rng.random() < 0.5:   # flicker / auto-exposure between frames
            x = x * rng.uniform(0.97, 1.03) + rng.uniform(-3, 3)
        if rng.random() < 0.8:
            x = x + rng.normal(0, rng.uniform(0.5, 5.0) * strength, x.shape)
        x = np.clip(x, 0, 255)
        if rng.random() < 0.5:
            q = int(rng.uniform(45, 95))
            ok, enc = cv2.imencode(".jpg", x.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
            x = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE).astype(np.float32)
        out.append(np.round(x).astype(np.float32))   # the runtime's crops are uint8
    return out


# iBUG points of each eye: corner, upper lid, upper lid, corner, lower lid, lower lid
EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))


def random_lids(rng: np.random.Generator, jitter: np.ndarray) -> tuple:
    """Both upper lids closing (a blink between the two frames): closure 0.15-1, the second eye
    within 15 % of the first, on the template's eyes as the jittered crop shows them (+-1 px),
    lid skin 0.32 of the eye's width (as the synthetic face's)."""
    closure = rng.uniform(0.15, 1.0)
    lids = []
    for eye in EYES:
        pts = TEMPLATE[list(eye)] @ jitter[:, :2].T + jitter[:, 2] + rng.normal(0, 1.0, 2)
        c0, u0, u1, c1, l1, l0 = pts
        lids.append(Lid(np.array([c0, u0, u1, c1]), np.array([c0, l0, l1, c1]), 0.32 * float(c1[0] - c0[0]),
                        float(closure * rng.uniform(0.85, 1.0))))
    return tuple(lids)


def make_pair(src: np.ndarray, to_crop: np.ndarray, rng: np.random.Generator, field: Field | None = None,
              sigma_px: tuple = SIGMA_PX, degraded: bool = True, blink_fraction: float = 0.0, forehead: bool = False,
              vertical_brows: float = 0.0, brow_actions: float = 0.0, small_head: float = 0.0):
    """-> (previous [128,128] float32 0..255, current, flow [2,128,128], local flow [2,128,128]).
    `degraded=False`: only the 8-bit rounding, no webcam degradation. A `blink_fraction` of the
    pairs also close both upper eyelids (`random_lids`); the flow is NaN where a lid covers the
    eye. With 0 (the default) no random number is drawn for it: the fixed pair sets stay as
    they were. `forehead`: bumps on the forehead too; `vertical_brows`: a share of the brow and
    forehead bumps move vertically, `brow_actions` a share as brow actions, `small_head` a share
    of the pairs with little head motion (`random_field`)."""
    jitter = crop_jitter(rng)
    crop_to_src = invert(compose(jitter, to_crop))
    field = field or random_field(rng, sigma_px, forehead, vertical_brows, brow_actions, small_head)
    if blink_fraction and rng.random() < blink_fraction:
        field = replace(field, lids=random_lids(rng, jitter))
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    a = sample(src, crop_to_src, xs, ys)
    mx, my = field.backward_map()
    b = sample(src, crop_to_src, mx, my)
    a, b = degrade(a, b, rng) if degraded else (np.round(a), np.round(b))
    flow, local = field.flow()
    return a, b, flow, local


def fixed_pairs(pool: FacePool, faces: np.ndarray, n: int, seed: int, degraded: bool = True):
    """n pairs from the faces `faces` (indices into the pool) picked by `seed`, pair i made with
    the generator seeded by (seed, i): the same pairs for every method and every run.
    `degraded=False`: the same fields without the webcam degradation (as the clean training pairs)."""
    pick = np.random.default_rng(seed).choice(faces, n, replace=len(faces) < n)
    return [(pool.ids[j],) + make_pair(pool.images[j], pool.to_crop[j], np.random.default_rng([seed, i]), degraded=degraded)
            for i, j in enumerate(pick)]


def held_out_pairs(pool: FacePool, n: int = 400, seed: int = 123):
    """The fixed held-out set: n pairs from held-out faces."""
    return fixed_pairs(pool, np.flatnonzero(pool.held_out), n, seed)


def validation_pairs(pool: FacePool, n: int = 200, seed: int = 777, degraded: bool = True):
    """Pairs from *training* faces (seeded by a seed training never uses for pairs): for choosing
    between recipes without touching the held-out faces."""
    return fixed_pairs(pool, np.flatnonzero(~pool.held_out), n, seed, degraded)


# ---------------------------------------------------------------- network
CORR_RADIUS = 2            # v1 and v2's coarse correlation at stride 4: +-2 cells = +-8 crop px
CORR_CHANNELS = 16         # v2: the stride-4 features are projected to 16 channels for the correlation
ARCHS = ("v1", "v2", "v3", "v4", "v6", "v7", "v7c", "v8", "v8s", "v9", "v10", "v11", "v11c", "v12", "v13", "v14",
         "v15", "v16")
# v7: v6 whose Lucas-Kanade steps pull the flow towards its local mean (combined local-global),
# with this many Jacobi sweeps per step at 16, 32, 64 and full resolution; v7c only at the
# coarse levels (session 12's two candidates, reports/flow_v7_preregistration.md)
SMOOTH_ITERS = {"v7": (4, 4, 4, 1), "v7c": (6, 6, 6, 0)}
# v8 and v8s (session 14): v6 plus a learned correction at full resolution after its last step,
# this many channels, one residual block per dilation (reports/flow_v8_preregistration.md)
FULL_CORRECTION = {"v8": (16, (1, 3, 9)), "v8s": (16, (1, 4))}
for _arch in ("v9", "v10", "v11", "v11c", "v12", "v13", "v14", "v15", "v16"):   # v8s's network, trained otherwise (v13-v16: one part more)
    FULL_CORRECTION[_arch] = FULL_CORRECTION["v8s"]
# v13 (session 17): the second full-resolution step gated by the residual it starts from
# (`GatedLucasKanadeStep`; reports/flow_v13_preregistration.md); v14 its gate also reading how
# noisy the whole crop is (reports/flow_v14_preregistration.md)
GATED_SECOND_STEP = ("v13", "v14", "v15", "v16")
NOISE_AWARE_GATE = ("v14", "v15")   # v15: v14's network, trained on with small head motions
# v16 (session 18): v14's network whose gate reads the wide solution's explained energy and the
# residual over a 17-px box instead (reports/flow_v16_preregistration.md)
EXPLAINED_GATE = ("v16",)
ARCH = "v14"               # the architecture trained and exported by default (the shipped one)


def _blocks():
    from torch import nn

    def cbr(i, o, k=3, s=1, d=1):
        return nn.Sequential(nn.Conv2d(i, o, k, s, d * (k // 2), dilation=d, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    def dws(i, o, d=1):
        """Depthwise 3x3 (dilation d) + pointwise, BN, ReLU; residual when shapes match."""
        return nn.Sequential(nn.Conv2d(i, i, 3, 1, d, dilation=d, groups=i, bias=False), nn.BatchNorm2d(i),
                             nn.ReLU(inplace=True), nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    class Res(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return x + self.block(x)

    return cbr, dws, Res


def standardise(x):
    """Per-crop (x - mean) / sqrt(var + 1), on raw 0..255 crops."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).add(1.0).sqrt()
    return (x - mean) / std


def local_correlation(a, b, r: int):
    """[(2r+1)^2] channels: mean over channels of a(x) * b(x + d), d in [-r, r]^2 (rows, then columns)."""
    import torch
    import torch.nn.functional as F

    h, w = a.shape[2], a.shape[3]
    bp = F.pad(b, (r, r, r, r))
    return torch.cat([(a * bp[:, :, dy:dy + h, dx:dx + w]).mean(1, keepdim=True)
                      for dy in range(2 * r + 1) for dx in range(2 * r + 1)], 1)


def warp_image(img, flow):
    """img(x + flow) by bilinear sampling, border replicated: img [N,C,H,W], flow [N,2,H,W] in
    pixels (u, v), pixel centres at integers. The four neighbours are gathered from the flattened
    image (ONNX GatherElements): ONNX Runtime's GridSample took 0.28 ms per 128x128 warp, this
    0.13 ms. The sample point is clamped to the image (= GridSample's border padding)."""
    import torch

    n, c, h, w = img.shape
    xs = torch.arange(w, dtype=flow.dtype).view(1, 1, w)
    ys = torch.arange(h, dtype=flow.dtype).view(1, h, 1)
    x = (xs + flow[:, 0]).clamp(0, w - 1)
    y = (ys + flow[:, 1]).clamp(0, h - 1)
    x0 = x.floor().clamp(max=w - 2)
    y0 = y.floor().clamp(max=h - 2)
    fx = (x - x0).unsqueeze(1)
    fy = (y - y0).unsqueeze(1)
    index = (y0 * w + x0).long().view(n, 1, h * w).expand(n, c, h * w)
    flat = img.reshape(n, c, h * w)

    def at(offset):
        return torch.gather(flat, 2, index + offset).view(n, c, h, w)

    top_left = at(0)
    top = top_left + (at(1) - top_left) * fx
    bottom_left = at(w)
    bottom = bottom_left + (at(w + 1) - bottom_left) * fx
    return top + (bottom - top) * fy


def build_model(arch: str = ARCH):
    if arch == "v1":
        return build_model_v1()
    if arch == "v2":
        return build_model_v2()
    if arch == "v3":
        return build_model_v3()
    v4 = dict(full_windows=(2.5, 1.5), input_blur=False)
    v6 = dict(v4, antialias=True)   # v7, v7c and v8 to v12 are v6 with one more part
    if arch == "v4":
        return build_model_v3(**v4)
    if arch == "v6":
        return build_model_v3(**v6)
    if arch in SMOOTH_ITERS:
        return build_model_v3(**v6, smooth_iters=SMOOTH_ITERS[arch])
    if arch in FULL_CORRECTION:
        return build_model_v3(**v6, full_correction=FULL_CORRECTION[arch], gated_second=arch in GATED_SECOND_STEP,
                              noise_aware_gate=arch in NOISE_AWARE_GATE, explained_gate=arch in EXPLAINED_GATE)
    raise ValueError(f"unknown flow architecture {arch!r} (one of {ARCHS})")


def build_model_v1():
    import torch
    from torch import nn
    import torch.nn.functional as F

    cbr, dws, Res = _blocks()

    class FlowNet(nn.Module):
        """Shared encoder per frame to stride 2 (16 ch) and stride 4 (32 ch); a 5x5 local
        correlation at stride 4 (+-8 crop px); a depthwise-separable decoder at 32x32 with
        dilations for a wide smooth context; flow at stride 4, upsampled and refined at stride 2
        with both frames' stride-2 features; bilinear to full size. Output in crop pixels."""

        def __init__(self):
            super().__init__()
            self.e2 = nn.Sequential(cbr(1, 16, 3, 2))                          # 64
            self.e4 = nn.Sequential(cbr(16, 32, 3, 2), Res(dws(32, 32)))        # 32
            c = (2 * CORR_RADIUS + 1) ** 2
            self.dec_in = cbr(32 + 32 + c, 48, 1)
            self.dec = nn.Sequential(Res(dws(48, 48, 1)), Res(dws(48, 48, 2)), Res(dws(48, 48, 4)),
                                     Res(dws(48, 48, 1)))
            self.head4 = nn.Conv2d(48, 2, 3, 1, 1)
            self.ref_in = cbr(16 + 16 + 2, 16, 1)
            self.ref = nn.Sequential(Res(dws(16, 16, 1)), Res(dws(16, 16, 2)))
            self.head2 = nn.Conv2d(16, 2, 3, 1, 1)

        def forward(self, previous, current):
            n = previous.shape[0]
            x = standardise(torch.cat([previous, current], 0))
            f2 = self.e2(x)
            f4 = self.e4(f2)
            a2, b2 = f2[:n], f2[n:]
            a4, b4 = f4[:n], f4[n:]
            corr = local_correlation(a4, b4, CORR_RADIUS)
            y = self.dec(self.dec_in(torch.cat([a4, b4, corr], 1)))
            flow4 = self.head4(y) * 4.0                                           # crop px
            up = F.interpolate(flow4, scale_factor=2.0, mode="bilinear", align_corners=False)
            z = self.ref(self.ref_in(torch.cat([a2, b2, up * 0.25], 1)))
            flow2 = up + self.head2(z)
            return F.interpolate(flow2, scale_factor=2.0, mode="bilinear", align_corners=False)

    return FlowNet()


def build_model_v2(width: int = 32, fine: int = 24):
    import torch
    from torch import nn
    import torch.nn.functional as F

    cbr, dws, Res = _blocks()

    class FlowNet2(nn.Module):
        """Coarse estimate, warp, residual. Shared encoder per frame: stride 2 (16 ch) and
        stride 4 (32 ch). Stride 4: a 5x5 correlation (+-8 crop px) and a dilated
        depthwise-separable decoder -> coarse flow. Then frame B itself (standardised) is warped
        towards A by the coarse flow upsampled to full size (one bilinear GridSample), encoded
        again at stride 2, and a decoder at 64x64 on both frames' stride-2 features regresses the
        residual flow; bilinear to full size. Output in crop pixels."""

        def __init__(self):
            super().__init__()
            self.e2 = cbr(1, 16, 3, 2)                                           # 64
            self.e4 = nn.Sequential(cbr(16, 32, 3, 2), Res(dws(32, 32)))        # 32
            self.proj = nn.Conv2d(32, CORR_CHANNELS, 1)                            # matching features
            c4 = (2 * CORR_RADIUS + 1) ** 2
            self.dec_in = cbr(32 + 32 + c4, width, 1)
            self.dec = nn.Sequential(Res(dws(width, width, 1)), Res(dws(width, width, 2)),
                                     Res(dws(width, width, 4)))
            self.head4 = nn.Conv2d(width, 2, 3, 1, 1)
            self.ref_in = cbr(16 + 16 + 2, fine, 1)
            self.ref = nn.Sequential(Res(dws(fine, fine, 1)), Res(dws(fine, fine, 2)), Res(dws(fine, fine, 1)))
            self.head2 = nn.Conv2d(fine, 2, 3, 1, 1)
            nn.init.zeros_(self.head2.weight)
            nn.init.zeros_(self.head2.bias)

        def forward(self, previous, current):
            n = previous.shape[0]
            x = standardise(torch.cat([previous, current], 0))
            f2 = self.e2(x)
            f4 = self.e4(f2)
            a2 = f2[:n]
            a4, b4 = f4[:n], f4[n:]
            m4 = self.proj(f4)
            corr = local_correlation(m4[:n], m4[n:], CORR_RADIUS)
            flow4 = self.head4(self.dec(self.dec_in(torch.cat([a4, b4, corr], 1)))) * 4.0   # crop px
            up1 = F.interpolate(flow4, scale_factor=4.0, mode="bilinear", align_corners=False)
            up2 = F.interpolate(flow4, scale_factor=2.0, mode="bilinear", align_corners=False)
            wb2 = self.e2(warp_image(x[n:], up1))
            flow2 = up2 + self.head2(self.ref(self.ref_in(torch.cat([a2, wb2, up2 * 0.25], 1))))
            out = F.interpolate(flow2, scale_factor=2.0, mode="bilinear", align_corners=False)
            if self.training:   # the coarse estimate too, for the two-scale loss
                return out, [up1]
            return out

    return FlowNet2()


def central_differences(x):
    """(d/dx, d/dy) of x [N,1,H,W] as (x[+1] - x[-1]) / 2, replicated border. Slices, not a conv:
    ONNX Runtime runs a one-channel conv as a 16-channel one (its NCHWc layout)."""
    import torch.nn.functional as F

    h, w = x.shape[2], x.shape[3]
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = (p[:, :, 1:h + 1, 2:] - p[:, :, 1:h + 1, :w]) * 0.5
    gy = (p[:, :, 2:, 1:w + 1] - p[:, :, :h, 1:w + 1]) * 0.5
    return gx, gy


def conv3x3_by_matmul(x, conv):
    """`conv(x)` for a 3x3, stride-1, zero-padded `conv` with few output channels, as one MatMul
    (every tap's outputs at once) and a sum of shifted slices. The same numbers; ONNX Runtime
    pads a 2-channel conv's output to 16 channels (NCHWc), which cost 0.3 ms of flow v3's 3.3."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    o = conv.out_channels
    taps = conv.weight.permute(2, 3, 0, 1).reshape(9 * o, c)          # rows: (ky, kx, out)
    y = F.pad(torch.matmul(taps, x.reshape(n, c, h * w)).reshape(n, 9 * o, h, w), (1, 1, 1, 1))
    out = conv.bias.view(1, o, 1, 1)
    for k in range(9):
        ky, kx = divmod(k, 3)
        out = out + y[:, k * o:(k + 1) * o, ky:ky + h, kx:kx + w]
    return out


def gaussian_taps(sigma: float):
    """Normalised 1-D Gaussian, radius round(3 sigma)."""
    import torch

    r = int(3 * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-x ** 2 / (2 * sigma * sigma))
    return k / k.sum()


def window_band(taps, n: int):
    """[C,K] taps (K odd) -> [C,n,n] matrices M with (x @ M)[j] = sum_k taps[k] x[clamp(j + k - K//2)]:
    a 1-D correlation along the last axis with a replicated border."""
    import torch

    c, k = taps.shape
    j = torch.arange(n).view(1, n)
    source = (j + torch.arange(k).view(k, 1) - k // 2).clamp(0, n - 1)        # [K,n]: the row each tap reads
    one_hot = torch.zeros(k, n, n)
    one_hot.scatter_(1, source.view(k, 1, n), 1.0)                             # [K, row, column]
    return torch.einsum("ck,kij->cij", taps, one_hot)


WINDOW_BLOCK = 32   # exported windows on crops of at least 4 such blocks are computed block by block


def window_blocks(rows, columns, radius: int):
    """The band matrices of a frozen window (`rows` [..., n, n] for x @ rows along the width,
    `columns` [..., n, n] for columns @ x along the height, nonzero within `radius` of the
    diagonal) cut into WINDOW_BLOCK-wide output blocks, each with the (WINDOW_BLOCK + 2 radius)
    inputs it reads: (inputs [K*L] indices, right [..., K, L, B], left [..., K, B, L])."""
    import torch

    n = rows.shape[-1]
    span = WINDOW_BLOCK + 2 * radius
    starts = [min(max(k * WINDOW_BLOCK - radius, 0), n - span) for k in range(n // WINDOW_BLOCK)]
    inputs = torch.tensor([s + i for s in starts for i in range(span)])
    right = torch.stack([rows[..., s:s + span, k * WINDOW_BLOCK:(k + 1) * WINDOW_BLOCK] for k, s in enumerate(starts)], -3)
    left = torch.stack([columns[..., k * WINDOW_BLOCK:(k + 1) * WINDOW_BLOCK, s:s + span] for k, s in enumerate(starts)], -3)
    return inputs, right, left


def banded_window(x, rows, columns):
    """columns @ (x @ rows), x [..., n, n]: a frozen window as two dense band-matrix products."""
    import torch

    return torch.matmul(columns, torch.matmul(x, rows))


def blocked_window(x, blocks):
    """`banded_window`'s sums block by block (`blocks` from `window_blocks`): each output block
    reads only the inputs its band reaches (a Gather and one batched MatMul per pass), about
    2.7 x fewer multiplications than the dense products at 128 px with a 17-tap window
    (0.12-0.14 ms instead of 0.18 per five-channel window in ONNX Runtime). The zeros the dense
    product adds make no difference to the sums, the order of the additions may, within float
    rounding."""
    import torch

    inputs, right, left = blocks
    k, span = right.shape[-3], right.shape[-2]

    def left_product(blocked, y):   # blocked @ y along y's rows, block by block
        return torch.matmul(blocked, y.index_select(-2, inputs).unflatten(-2, (k, span))).flatten(-3, -2)

    y = left_product(right.transpose(-2, -1), x.transpose(-2, -1)).transpose(-2, -1)   # x @ rows
    return left_product(left, y)


def binomial_blur(x):
    """[1,2,1]/4 in each direction, replicated border; as weighted sums of shifted slices, not a
    conv: ONNX Runtime runs a one-channel conv as a 16-channel one (its NCHWc layout)."""
    import torch.nn.functional as F

    h, w = x.shape[2], x.shape[3]
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    x = (p[:, :, :, 0:w] + 2 * p[:, :, :, 1:w + 1] + p[:, :, :, 2:w + 2]) * 0.25
    return (x[:, :, 0:h] + 2 * x[:, :, 1:h + 1] + x[:, :, 2:h + 2]) * 0.25


def build_model_v3(iters=(2, 2, 2), windows=(2.0, 2.5, 2.5), fine: int = 32, full_windows=(2.5,),
                   input_blur: bool = True, antialias: bool = False, smooth_iters=(0, 0, 0, 0),
                   full_correction=(0, ()), gated_second: bool = False, noise_aware_gate: bool = False,
                   explained_gate: bool = False):
    """v3: Lucas-Kanade steps unrolled over a pyramid, with learned windows, and a learned
    correction. v4 is the same network with no fixed input blur and two full-resolution steps
    (initial windows 2.5 and 1.5); v6 is v4 whose pyramid blurs ([1,2,1]/4) before each 2x2
    average, so that fine texture (hair) does not alias into the coarse levels. See
    `models/flow.md`."""
    import math

    import torch
    from torch import nn
    import torch.nn.functional as F

    cbr, dws, Res = _blocks()

    def correction_layers(width: int, dilations):
        """A learned correction's layers: its input (A, B warped, the flow, the residual) -> 1x1
        to `width` channels, one residual depthwise-separable block per dilation, and a
        zero-initialised 3x3 head (so that untrained it changes nothing)."""
        # built in this order: the random initialisation (and so every recipe's seed) depends on it
        ref_in = cbr(1 + 1 + 2 + 1, width, 1)
        ref = nn.Sequential(*[Res(dws(width, width, d)) for d in dilations])
        head = nn.Conv2d(width, 2, 3, 1, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return ref_in, ref, head

    def corrected(ref_in, ref, head, a, b, flow, flow_scale: float):
        """`flow` plus the correction the layers read from A, B warped by the flow, the flow
        times `flow_scale` and the residual B warped - A."""
        bw = warp_image(b, flow)
        return flow + conv3x3_by_matmul(ref(ref_in(torch.cat([a, bw, flow * flow_scale, bw - a], 1))), head)

    def damped_system(s, lam):
        """The windowed products `s` [..., 5, H, W] as the damped 2x2 system: Jxx + lam, Jxy,
        Jyy + lam, bx, by, each [..., 1, H, W]."""
        jxx, jxy, jyy = s[..., 0:1, :, :] + lam, s[..., 1:2, :, :], s[..., 2:3, :, :] + lam
        return jxx, jxy, jyy, s[..., 3:4, :, :], s[..., 4:5, :, :]

    def solve_damped(s, lam):
        """(du, dv), unclamped, each [..., 1, H, W]: the solution of `damped_system(s, lam)`."""
        jxx, jxy, jyy, bx, by = damped_system(s, lam)
        inv = 1.0 / (jxx * jyy - jxy * jxy)
        return -(jyy * bx - jxy * by) * inv, -(jxx * by - jxy * bx) * inv

    class LucasKanadeStep(nn.Module):
        """One Gauss-Newton step of brightness constancy at one pyramid level: warp B by the
        flow, then per pixel solve the 2x2 system of the window-weighted structure tensor plus
        a learned Tikhonov term. Each of the 5 tensor products has its own learned separable
        window, kept positive (softmax of log-weights) so that the system stays positive
        definite; the update is clamped to 4 crop px."""

        def __init__(self, size: int, sigma: float, smooth_iters: int = 0):
            super().__init__()
            k = gaussian_taps(sigma).log()
            self.wx = nn.Parameter(k.view(1, 1, 1, -1).repeat(5, 1, 1, 1))
            self.wy = nn.Parameter(k.view(1, 1, -1, 1).repeat(5, 1, 1, 1))
            self.log_lam = nn.Parameter(torch.tensor(math.log(1e-2)))
            # v7: combined local-global (Bruhn et al. 2005): the flow is pulled towards its local
            # mean by a learned weight, solved by `smooth_iters` Jacobi sweeps, so that motion
            # reaches textureless skin (the forehead) from the textured parts around it
            self.smooth_iters = smooth_iters
            if smooth_iters:
                self.log_smooth = nn.Parameter(torch.tensor(math.log(1e-2)))
            self.max_step = size / 32.0
            self.size = size
            self.bands = None
            self.blocks = None
            self.block_radius = self.wx.shape[3] // 2   # the band the exported blocks are cut for

        def freeze_windows(self):
            """For export: both window passes as batched MatMuls with constant band matrices
            (the replicated border folded in). The same sums; onnxruntime runs a 5-group
            1x17 convolution at 128x128 in 0.20 ms, the MatMul in 0.13; at full resolution
            block by block (`blocked_window`)."""
            with torch.no_grad():
                self.bands = (window_band(torch.softmax(self.wx, 3).view(5, -1), self.size),
                              window_band(torch.softmax(self.wy, 2).view(5, -1), self.size).transpose(1, 2))
                blocked = self.size % WINDOW_BLOCK == 0 and self.size >= 4 * WINDOW_BLOCK
                self.blocks = window_blocks(*self.bands, self.block_radius) if blocked else None

        def unfreeze_windows(self):
            """Back to the convolutions (training changes the windows)."""
            self.bands = self.blocks = None

        def window(self, x):
            if self.bands is not None and not self.training:
                return banded_window(x, *self.bands) if self.blocks is None else blocked_window(x, self.blocks)
            r = self.wx.shape[3] // 2
            x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), torch.softmax(self.wx, 3), groups=5)
            return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), torch.softmax(self.wy, 2), groups=5)

        def products(self, a, b, flow):
            """B warped by the flow, the residual B warped - A, and the five products."""
            bw = warp_image(b, flow)
            gx, gy = central_differences((a + bw) * 0.5)
            it = bw - a
            return bw, it, torch.cat([gx * gx, gx * gy, gy * gy, gx * it, gy * it], 1)

        def damping(self):
            return self.log_lam.exp() + 1e-3

        def forward(self, a, b, flow):
            bw, _, products = self.products(a, b, flow)
            s = self.window(products)
            if not self.smooth_iters:
                du, dv = solve_damped(s, self.damping())
                return flow + torch.cat([du, dv], 1).clamp(-self.max_step, self.max_step), bw
            jxx, jxy, jyy, bx, by = damped_system(s, self.damping())
            # (J + lam + mu) d = -b + mu (mean(flow + d) - flow) by Jacobi sweeps, or for the
            # total flow w = flow + d: (J + lam + mu) w = r + mu mean(w), r = (J + lam) flow - b.
            # Per pixel w = P q + Q swap(q) with P = (jyy, jxx) / det, Q = -jxy / det, the few
            # whole-tensor operations ONNX Runtime runs fast; the mean is a 3x3 box.
            mu = self.log_smooth.exp()
            jxx, jyy = jxx + mu, jyy + mu
            inv = 1.0 / (jxx * jyy - jxy * jxy)
            p, q = torch.cat([jyy, jxx], 1) * inv, -jxy * inv
            u, v = flow[:, 0:1], flow[:, 1:2]
            r = torch.cat([(jxx - mu) * u + jxy * v - bx, jxy * u + (jyy - mu) * v - by], 1)
            w = flow
            for _ in range(self.smooth_iters):
                rhs = r + mu * F.avg_pool2d(F.pad(w, (1, 1, 1, 1), mode="replicate"), 3, 1)
                w = p * rhs + q * rhs.flip(1)
            return flow + (w - flow).clamp(-self.max_step, self.max_step), bw

    class GatedLucasKanadeStep(LucasKanadeStep):
        """v13's second full-resolution step: this step's own (narrow, damped) solution and a
        `wide` one (its own window and damping, which start as the first full-resolution step's)
        from the same five products, mixed per pixel by a learned gate. Session 16 measured the
        trade: v12's heavy damping keeps still skin still but gives back only part of small
        expression motion, the first step's window and damping the reverse. The gate reads the
        evidence of motion left: the residual B warped - A (squared, over a 5x5 box) and the
        wide window's texture (the structure tensor's trace), each against its mean over the
        crop so that a noisy crop (noise raises the residual everywhere) does not open it
        everywhere: gate = sigmoid(a log(r / mean r) + b log(t / mean t) + c). Both solutions
        are solved as one batch of two (ONNX Runtime's time here goes by the node count).

        v14 (`noise_aware`): + d (log mean r - NOISE_REF). v13's gate, relative to the crop's
        mean, could not tell a noisy crop (where the wide solution does harm) from a clean one
        (where it helps); the crop's mean residual can."""

        RESIDUAL_BOX = 5
        # log of the crop's mean boxed squared residual, between the medians of clean (-6.67)
        # and degraded (-5.42) training pairs under v13's weights (150 each; the rendered
        # synthetic crops: -7.44); d starts at -1.5: a degraded crop at its median shut by 1.0
        # more than v13's gate, a rendered one opened by 2.0
        NOISE_REF, NOISE_WEIGHT = -6.1, -1.5

        # v16 (`explained`): the box both of its inputs are averaged over, crop px; the offsets
        # centre their logs near 0 on training crops; the start is session 18's probe fit
        # (reports/flow_v16_preregistration.md)
        EXPLAINED_BOX, ENERGY_OFFSET, RESIDUAL_OFFSET = 17, 8.0, 6.0
        EXPLAINED_START = (2.30, -3.98, 0.03)

        def __init__(self, size: int, sigma: float, wide_sigma: float, noise_aware: bool = False,
                     explained: bool = False):
            super().__init__(size, sigma)
            self.wide = LucasKanadeStep(size, wide_sigma)
            # both windows' blocks cut for the wider band, so that they stack into one product
            self.block_radius = self.wide.block_radius = max(self.block_radius, self.wide.block_radius)
            self.explained = explained
            if explained:
                energy, residual, bias = self.EXPLAINED_START
                self.gate_energy = nn.Parameter(torch.tensor(energy))
                self.gate_residual = nn.Parameter(torch.tensor(residual))
                self.gate_bias = nn.Parameter(torch.tensor(bias))
                taps = torch.full((1, self.EXPLAINED_BOX), 1.0 / self.EXPLAINED_BOX)
                self.register_buffer("box_rows", window_band(taps, size), persistent=False)   # [1,n,n]
                return
            # starts as session 16's check: the wide solution where the residual is over twice
            # its mean (sigmoid(2 log(r / 2 mean r))); texture not read until trained
            self.gate_residual = nn.Parameter(torch.tensor(2.0))
            self.gate_texture = nn.Parameter(torch.tensor(0.0))
            self.gate_bias = nn.Parameter(torch.tensor(-2.0 * math.log(2.0)))
            self.gate_noise = nn.Parameter(torch.tensor(self.NOISE_WEIGHT)) if noise_aware else None

        def box(self, x):
            """[N,C,H,W] averaged over EXPLAINED_BOX x EXPLAINED_BOX, replicated border (two
            batched products with a constant band matrix, as the windows are exported)."""
            rows = self.box_rows
            return torch.matmul(rows.transpose(1, 2), torch.matmul(x, rows))

        def explained_gate(self, it, energy):
            """v16: sigmoid(a (log B(e) + 8) + b (log B(it^2) + 6) + c); e the wide solution's
            explained energy b^T (J + lam)^-1 b, which noise alone keeps small relative to the
            residual (session 18's probe: the evidence of motion that carries over from the
            training pairs to clean crops, where v13/v14's relative inputs did not)."""
            eps = 1e-6
            boxed = self.box(torch.cat([energy.clamp(min=0.0), it * it], 1))
            return torch.sigmoid(self.gate_energy * ((boxed[:, 0:1] + eps).log() + self.ENERGY_OFFSET)
                                 + self.gate_residual * ((boxed[:, 1:2] + eps).log() + self.RESIDUAL_OFFSET)
                                 + self.gate_bias)

        def freeze_windows(self):
            super().freeze_windows()
            self.wide.freeze_windows()

        def unfreeze_windows(self):
            super().unfreeze_windows()
            self.wide.unfreeze_windows()

        def both_windows(self, products):
            """[N,5,H,W] -> [N,2,5,H,W]: the products under this step's window and the wide one's."""
            if self.bands is not None and self.wide.bands is not None and not self.training:
                both = products.unsqueeze(1)
                if self.blocks is not None and self.wide.blocks is not None:   # cut for the same band
                    return blocked_window(both, (self.blocks[0], *(torch.stack([self.blocks[i], self.wide.blocks[i]])
                                                                    for i in (1, 2))))
                return banded_window(both, *(torch.stack([self.bands[i], self.wide.bands[i]]) for i in (0, 1)))   # [2,5,n,n]
            return torch.stack([self.window(products), self.wide.window(products)], 1)

        def gate(self, it, trace):
            eps = 1e-6
            half = self.RESIDUAL_BOX // 2
            r = F.avg_pool2d(F.pad(it * it, (half,) * 4, mode="replicate"), self.RESIDUAL_BOX, 1) + eps
            t = trace + eps
            mean_r = r.mean((2, 3), keepdim=True).log()
            z = (self.gate_residual * (r.log() - mean_r)
                 + self.gate_texture * (t.log() - t.mean((2, 3), keepdim=True).log()) + self.gate_bias)
            if self.gate_noise is not None:
                z = z + self.gate_noise * (mean_r - self.NOISE_REF)
            return torch.sigmoid(z)

        def forward(self, a, b, flow):
            bw, it, products = self.products(a, b, flow)
            s = self.both_windows(products)                                      # [N,2,5,H,W]
            lam = torch.stack([self.damping(), self.wide.damping()]).view(1, 2, 1, 1, 1)
            du, dv = solve_damped(s, lam)                                        # [N,2,1,H,W]: narrow, wide
            d = torch.cat([du, dv], 2).clamp(-self.max_step, self.max_step)
            narrow, wide = d[:, 0], d[:, 1]
            if self.explained:   # the decrease of the linearised residual the wide solution buys
                g = self.explained_gate(it, -(du[:, 1] * s[:, 1, 3:4] + dv[:, 1] * s[:, 1, 4:5]))
            else:
                g = self.gate(it, s[:, 1:2, 0] + s[:, 1:2, 2])
            return flow + narrow + g * (wide - narrow), bw

    class FlowNet3(nn.Module):
        """Per-crop standardisation and (v3) a light blur (sigma 1); a 4-level average pyramid
        (128, 64, 32, 16). From zero flow at 16x16: `iters` Lucas-Kanade steps at 16, 32 and 64
        (flow doubled on each upsampling). At 64: a learned correction from A, B warped, the
        flow and the residual B warped - A (depthwise-separable blocks, dilations 1, 2, 4, 1;
        a zero-initialised head). Then bilinear to 128 and one Lucas-Kanade step at full
        resolution (v4: two). Output in crop pixels."""

        def __init__(self):
            super().__init__()
            self.sizes = (16, 32, 64)
            self.steps = nn.ModuleList([nn.ModuleList([LucasKanadeStep(s, w, k) for _ in range(n)])
                                        for s, n, w, k in zip(self.sizes, iters, windows, smooth_iters)])
            self.ref_in, self.ref, self.head = correction_layers(fine, (1, 2, 4, 1))
            self.full = LucasKanadeStep(SIZE, full_windows[0], smooth_iters[3])
            self.full_more = nn.ModuleList([LucasKanadeStep(SIZE, w, smooth_iters[3]) for w in full_windows[1:]])
            if gated_second:   # v13-v16
                self.full_more[0] = GatedLucasKanadeStep(SIZE, full_windows[1], full_windows[0], noise_aware_gate,
                                                         explained_gate)
            # v8: a second learned correction, at full resolution after the last step. At the
            # brows the Lucas-Kanade windows see one edge direction and move the flow along its
            # normal only (the aperture problem): horizontal error where the brows move up.
            width, dilations = full_correction
            self.full_ref = None
            if width:
                self.full_ref_in, self.full_ref, self.full_head = correction_layers(width, dilations)
            self.input_blur = input_blur
            self.antialias = antialias
            self.register_buffer("pre", gaussian_taps(1.0), persistent=False)

        def blur(self, x):
            """Separable, replicated border; as weighted sums of shifted slices, not a conv:
            ONNX Runtime runs a one-channel conv as a 16-channel one (its NCHWc layout)."""
            taps = [float(t) for t in self.pre]
            r = len(taps) // 2
            h, w = x.shape[2], x.shape[3]
            p = F.pad(x, (r, r, 0, 0), mode="replicate")
            x = sum(p[:, :, :, k:k + w] * t for k, t in enumerate(taps))
            p = F.pad(x, (0, 0, r, r), mode="replicate")
            return sum(p[:, :, k:k + h, :] * t for k, t in enumerate(taps))

        def forward(self, previous, current):
            n = previous.shape[0]
            x = standardise(torch.cat([previous, current], 0))
            pyramid = {SIZE: self.blur(x) if self.input_blur else x}
            for s in (64, 32, 16):
                finer = pyramid[s * 2]
                pyramid[s] = F.avg_pool2d(binomial_blur(finer) if self.antialias else finer, 2)
            flow = torch.zeros(n, 2, 16, 16)
            estimates = []
            for s, steps in zip(self.sizes, self.steps):
                if flow.shape[2] != s:
                    flow = F.interpolate(flow, size=(s, s), mode="bilinear", align_corners=False) * 2.0
                for step in steps:
                    flow, _ = step(pyramid[s][:n], pyramid[s][n:], flow)
                estimates.append(flow)
            flow = corrected(self.ref_in, self.ref, self.head, pyramid[64][:n], pyramid[64][n:], flow, 0.5)
            estimates.append(flow)
            flow = F.interpolate(flow, size=(SIZE, SIZE), mode="bilinear", align_corners=False) * 2.0
            for step in [self.full, *self.full_more]:
                flow, _ = step(pyramid[SIZE][:n], pyramid[SIZE][n:], flow)
            if self.full_ref is not None:
                flow = corrected(self.full_ref_in, self.full_ref, self.full_head, pyramid[SIZE][:n], pyramid[SIZE][n:],
                                 flow, 0.25)
            if self.training:   # every level's estimate too, for the multi-scale loss
                return flow, [F.interpolate(f, size=(SIZE, SIZE), mode="bilinear", align_corners=False) * (SIZE / f.shape[2])
                              for f in estimates]
            return flow

    return FlowNet3()


def epe(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error over the pixels (of mask, if given); pred/truth [2,H,W]."""
    e = np.sqrt(((pred - truth) ** 2).sum(0))
    return float(e[mask].mean()) if mask is not None else float(e.mean())


# ---------------------------------------------------------------- classical baselines
REFINEMENT_ITERATIONS = 1   # fixed-point iterations of the refinement after our model (src/motion/mod.rs)

class Classical:
    """OpenCV flows on uint8 crops, as the Rust side runs them: DIS with the settings of `DisFlow`
    and Farneback as `FarnebackFlow` (src/motion/flow.rs), Dual TV-L1 with the parameters of
    `TvL1Flow` (src/recognition/input.rs)."""

    def __init__(self):
        import cv2

        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        dis.setFinestScale(0)
        dis.setPatchSize(8)
        dis.setPatchStride(4)
        dis.setGradientDescentIterations(12)
        dis.setVariationalRefinementIterations(5)
        dis.setUseMeanNormalization(True)
        dis.setUseSpatialPropagation(True)
        self.dis = dis
        self.tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 0.8, 0.0, 5, False)

    def refine(self, a: np.ndarray, b: np.ndarray, flow: np.ndarray, iterations: int = REFINEMENT_ITERATIONS) -> np.ndarray:
        """`flow` [2,H,W] refined by OpenCV's variational refinement with DIS's parameters, as the
        Rust side's `RefinedFlow` (`--flow onnx-vr`)."""
        import cv2

        r = cv2.VariationalRefinement_create()
        r.setFixedPointIterations(iterations)
        r.setSorIterations(5)
        r.setOmega(1.6)
        r.setAlpha(20.0)
        r.setDelta(5.0)
        r.setGamma(10.0)
        f = np.ascontiguousarray(flow.transpose(1, 2, 0), dtype=np.float32)
        r.calc(a.astype(np.uint8), b.astype(np.uint8), f)
        return f.transpose(2, 0, 1)

    def run(self, method: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        a8, b8 = a.astype(np.uint8), b.astype(np.uint8)
        if method == "dis":
            f = self.dis.calc(a8, b8, None)
        elif method == "farneback":
            # OpenCV's example settings, as FarnebackFlow (src/motion/flow.rs)
            f = cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        elif method == "tvl1":
            f = self.tvl1.calc(a8, b8, None)
        else:
            raise ValueError(method)
        return f.transpose(2, 0, 1)
