"""The 68-point landmark model (`models/landmarks.onnx`): data, crop geometry, augmentation,
the network, the MediaPipe teacher and its 468 -> 68 mapping. See `models/landmarks.md`.

Crop geometry (the contract the Rust side reproduces exactly, `src/inference/landmarks.rs`):
a similarity `frame -> canonical 128-px crop` (the same one `src/face/align.rs` builds, from the
Haar/tracked box or from landmarks fitted to the template of `src/face/template.rs`), followed
by the fixed map `q = (p - 64) * S / 160 + S / 2` into the model's S x S crop (S = 128): the
canonical crop with a margin of 16 canonical px on every side. The frame is warped with
bilinear interpolation and replicated borders (OpenCV `warpAffine`, INTER_LINEAR,
BORDER_REPLICATE), grayscale uint8 (`cvtColor BGR2GRAY`), fed as raw 0..255 floats; the network
normalises each crop itself (mean/std) and returns 68 (x, y) in crop pixels. The exported graph
also runs the mirrored crop and averages the two (`build_model(flip_tta=True)`).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import REPO_ROOT, default_shared

CROP = 128                 # model input side (v1: 96)
CANON = 128.0              # canonical crop side (src/face/template.rs TEMPLATE_SIZE)
SPAN = 160.0               # canonical px shown across the model crop
K = CROP / SPAN            # canonical px -> model crop px
CACHE = Path(__file__).resolve().parents[1] / "cache"

# iBUG 68 mirror: index i of the mirrored face takes point FLIP[i] of the original.
FLIP = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48] + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65]
)


def template_rs() -> tuple[np.ndarray, float, np.ndarray]:
    """CANONICAL_68, HAAR_SCALE, HAAR_OFFSET parsed from src/face/template.rs (the one source)."""
    text = (REPO_ROOT / "src" / "face" / "template.rs").read_text()
    body = text.split("CANONICAL_68")[1].split("];\n")[0]
    pts = np.array([[float(a), float(b)] for a, b in re.findall(r"\[\s*([-\d.]+),\s*([-\d.]+)\]", body)])
    assert pts.shape == (68, 2), pts.shape
    scale = float(re.search(r"HAAR_SCALE: f32 = ([-\d.]+)", text).group(1))
    off = re.search(r"HAAR_OFFSET: \[f32; 2\] = \[([-\d.]+), ([-\d.]+)\]", text)
    return pts, scale, np.array([float(off.group(1)), float(off.group(2))])


TEMPLATE, HAAR_SCALE, HAAR_OFFSET = template_rs()
TEMPLATE_CROP = (TEMPLATE - 64.0) * K + CROP / 2   # mean shape in model-crop px


# ---------------------------------------------------------------- similarity helpers (2x3)
def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity src -> dst (Umeyama, no reflection), 2x3; as Similarity::fit."""
    ms, md = src.mean(0), dst.mean(0)
    p, q = src - ms, dst - md
    norm = (p ** 2).sum()
    a = (p * q).sum() / norm
    b = (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum() / norm
    t = md - np.array([a * ms[0] - b * ms[1], b * ms[0] + a * ms[1]])
    return np.array([[a, -b, t[0]], [b, a, t[1]]])


def box_similarity(box) -> np.ndarray:
    """Frame -> canonical crop from a Haar/tracked box (x, y, w, h), as Aligner::transform."""
    x, y, w, h = box
    s = HAAR_SCALE / max(w, 1.0)
    cx, cy = x + w / 2, y + h / 2
    return np.array([[s, 0, HAAR_OFFSET[0] - s * cx], [0, s, HAAR_OFFSET[1] - s * cy]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a after b (both 2x3)."""
    A = np.vstack([a, [0, 0, 1]])
    B = np.vstack([b, [0, 0, 1]])
    return (A @ B)[:2]


CANON_TO_CROP = np.array([[K, 0, CROP / 2 - 64 * K], [0, K, CROP / 2 - 64 * K]])


def canon_to_model(m: np.ndarray) -> np.ndarray:
    """Frame -> canonical similarity -> frame -> model crop."""
    return compose(CANON_TO_CROP, m)


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    A = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    return A[:2]


def warp(gray: np.ndarray, m: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.warpAffine(gray, m.astype(np.float64), (CROP, CROP), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def landmark_crop_transform(points: np.ndarray) -> np.ndarray:
    """Frame -> model crop from landmarks (the tracking mode: re-crop on the last points)."""
    return canon_to_model(fit_similarity(points, TEMPLATE))


def iod(points: np.ndarray) -> np.ndarray:
    """Inter-ocular distance: outer eye corners 36-45 (the 300-W convention)."""
    return np.linalg.norm(points[..., 36, :] - points[..., 45, :], axis=-1)


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-face mean point error / outer-corner inter-ocular distance."""
    return np.linalg.norm(pred - truth, axis=-1).mean(-1) / iod(truth)


# ---------------------------------------------------------------- data
@dataclass
class LabelledSet:
    name: str
    images: list            # grayscale uint8 arrays
    points: np.ndarray      # [N,68,2] image px
    ids: list               # image names
    weight: float = 1.0


def landmarks_dir(shared=None) -> Path:
    return Path(shared or default_shared()) / "data" / "landmarks"


def landmarks_available(shared=None) -> bool:
    return (landmarks_dir(shared) / "300w" / "points.csv").is_file()


def read_points_csv(path: Path):
    rows = list(csv.reader(open(path, newline="")))[1:]
    return [(r[0], r[1], np.array(r[2:], dtype=np.float64).reshape(68, 2)) for r in rows]


def load_set(which: str, subsets, shared=None, color=False, exclude_videos=None) -> LabelledSet:
    """which: '300w' or 'ytf'. YTF training images whose video also appears in `test` can be
    dropped with exclude_videos (the given split shares videos between training and test)."""
    import cv2

    root = landmarks_dir(shared) / which
    imgs, pts, ids = [], [], []
    for name, subset, p in read_points_csv(root / "points.csv"):
        if subset not in subsets:
            continue
        if exclude_videos is not None and ytf_video(name) in exclude_videos:
            continue
        im = cv2.imread(str(root / name), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
        if im is None:
            raise FileNotFoundError(root / name)
        imgs.append(im)
        pts.append(p)
        ids.append(name)
    return LabelledSet(f"{which}:{'+'.join(subsets)}", imgs, np.array(pts), ids)


def ytf_video(name: str) -> str:
    """images/training_Valerie_Harper_30.jpg -> Valerie_Harper_30 (person + video number)."""
    stem = Path(name).stem
    return stem.split("_", 1)[1]


def ytf_test_videos(shared=None) -> set:
    return {ytf_video(n) for n, s, _ in read_points_csv(landmarks_dir(shared) / "ytf" / "points.csv") if s == "test"}


# ---------------------------------------------------------------- augmentation
def sample_transform(points: np.ndarray, rng: np.random.Generator, mode: str) -> np.ndarray:
    """Frame -> model crop like the runtime makes it, perturbed like the tracker jitters.
    mode 'box': a face box (no roll correction: the face keeps its roll, +-extra rotation, the
    box's scale/centre error); 'track': re-cropped on the last frame's landmarks (small error)."""
    m = fit_similarity(points, TEMPLATE)                # eyes level, canonical scale
    if mode == "box":
        a = m[0, 0] + 0j + 1j * m[1, 0]
        roll = -math.atan2(a.imag, a.real)               # the box would keep the face's roll
        rot = roll + np.clip(rng.normal(0, 0.08), -0.25, 0.25)
        scale = math.exp(np.clip(rng.normal(0, 0.10), -0.25, 0.25))
        shift = np.clip(rng.normal(0, 0.06 * CANON, 2), -0.15 * CANON, 0.15 * CANON)
    else:
        rot = np.clip(rng.normal(0, 0.05), -0.15, 0.15)
        scale = math.exp(np.clip(rng.normal(0, 0.04), -0.1, 0.1))
        shift = np.clip(rng.normal(0, 0.025 * CANON, 2), -0.07 * CANON, 0.07 * CANON)
    c, s = math.cos(rot) * scale, math.sin(rot) * scale
    # perturbation about the canonical centre (64, 64)
    P = np.array([[c, -s, 64 - (c * 64 - s * 64) + shift[0]], [s, c, 64 - (s * 64 + c * 64) + shift[1]]])
    return canon_to_model(compose(P, m))


def photometric(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    x = crop.astype(np.float32)
    if rng.random() < 0.3:   # low resolution (webcam / YTF-like), then back up
        f = rng.uniform(0.3, 0.7)
        small = cv2.resize(x, (max(8, int(CROP * f)),) * 2, interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (CROP, CROP), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.8:   # lighting: contrast, brightness, gamma, a gradient
        x = x * rng.uniform(0.5, 1.4) + rng.uniform(-40, 40)
        if rng.random() < 0.4:
            g = np.linspace(-1, 1, CROP, dtype=np.float32)
            ang = rng.uniform(0, 2 * np.pi)
            ramp = math.cos(ang) * g[None, :] + math.sin(ang) * g[:, None]
            x = x + ramp * rng.uniform(0, 50)
        x = np.clip(x, 0, 255)
        if rng.random() < 0.5:
            x = 255.0 * (x / 255.0) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:   # partial occlusion: a random box of flat grey or noise
        w, h = rng.integers(CROP // 8, CROP // 2.5, 2)
        x0, y0 = rng.integers(0, CROP - w), rng.integers(0, CROP - h)
        x[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 255) if rng.random() < 0.5 else rng.uniform(0, 255, (h, w))
    if rng.random() < 0.7:   # sensor noise
        x = x + rng.normal(0, rng.uniform(1, 8), x.shape)
    return np.clip(x, 0, 255).astype(np.float32)


def make_sample(image: np.ndarray, points: np.ndarray, rng: np.random.Generator, augment=True):
    import cv2

    if augment and rng.random() < 0.5:  # mirror with index remapping
        image = cv2.flip(image, 1)
        pts = points.copy()
        pts[:, 0] = image.shape[1] - 1 - pts[:, 0]
        points = pts[FLIP]
    m = sample_transform(points, rng, "box" if rng.random() < 0.5 else "track")
    crop = warp(image, m)
    target = apply(m, points)
    if augment:
        crop = photometric(crop, rng)
    return crop.astype(np.float32), target.astype(np.float32)


# ---------------------------------------------------------------- network
def build_model(crop: int = CROP, flip_tta: bool = False):
    """The landmark network for `crop`-px inputs. flip_tta: the forward pass also runs the
    mirrored crop and averages the two (mirrored back: x -> crop - 1 - x, points through FLIP);
    the shipped ONNX graph has it, training does not."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    def cbr(i, o, k=3, s=1, groups=1):
        return nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    class DW(nn.Module):
        def __init__(self, i, o, s=1):
            super().__init__()
            self.body = nn.Sequential(cbr(i, i, 3, s, groups=i), cbr(i, o, 1))
            self.res = s == 1 and i == o

        def forward(self, x):
            y = self.body(x)
            return x + y if self.res else y

    class LandmarkNet(nn.Module):
        """Per-crop standardisation; a depthwise-separable encoder to stride 16; a two-step
        top-down decoder to stride 4; 68 heatmaps; soft-argmax -> crop px. (Sides for 128 px.)"""

        def __init__(self):
            super().__init__()
            self.flip_tta = flip_tta
            self.crop = crop
            self.stem = cbr(1, 16, 3, 2)                                    # 64
            self.s4 = nn.Sequential(DW(16, 32, 2), DW(32, 32))              # 32
            self.s8 = nn.Sequential(DW(32, 64, 2), DW(64, 64), DW(64, 64))  # 16
            self.s16 = nn.Sequential(DW(64, 128, 2), DW(128, 128), DW(128, 128), DW(128, 128))  # 8
            self.lat16 = cbr(128, 64, 1)
            self.dec8 = DW(64, 64)
            self.lat8 = cbr(64, 32, 1)
            self.dec4 = nn.Sequential(DW(32, 32), DW(32, 32))
            self.head = nn.Conv2d(32, 68, 1)
            n = crop // 4
            c = (torch.arange(n, dtype=torch.float32) + 0.5) * 4.0 - 0.5  # cell centre, px (pixel-centre coords)
            gy, gx = torch.meshgrid(c, c, indexing="ij")
            self.register_buffer("grid", torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))  # [n*n,2]
            self.register_buffer("flip", torch.as_tensor(FLIP, dtype=torch.long), persistent=False)
            self.register_buffer("mirror_mul", torch.tensor([-1.0, 1.0]), persistent=False)
            self.register_buffer("mirror_add", torch.tensor([crop - 1.0, 0.0]), persistent=False)

        def forward(self, x):
            if not self.flip_tta:
                return self.points(x)
            p = self.points(torch.cat([x, torch.flip(x, dims=[3])], 0)).reshape(2, -1, 68, 2)
            mirrored = p[1][:, self.flip] * self.mirror_mul + self.mirror_add
            return (p[0] + mirrored) * 0.5

        def points(self, x):
            mean = x.mean(dim=(2, 3), keepdim=True)
            std = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).add(1.0).sqrt()
            x = (x - mean) / std
            f4 = self.s4(self.stem(x))
            f8 = self.s8(f4)
            f16 = self.s16(f8)
            y = self.dec8(F.interpolate(self.lat16(f16), scale_factor=2.0, mode="nearest") + f8)
            y = self.dec4(F.interpolate(self.lat8(y), scale_factor=2.0, mode="nearest") + f4)
            h = self.head(y).flatten(2)
            p = torch.softmax(h, dim=-1)
            return p @ self.grid  # [b,68,2]

    return LandmarkNet()


def init_from_onnx(model, path, calibration: np.ndarray) -> None:
    """Loads the convolutions of an exported landmark model (batch norm folded into them, e.g.
    v1's models/landmarks.onnx) into `model` (same layers; any input size) and un-folds the batch
    norms so that the network computes the same function in eval mode, and about the same in
    train mode on batches like `calibration` ([B,1,S,S] training crops): each norm gets that
    batch's statistics of its input as running statistics and the matching scale and shift."""
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn

    g = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    convs_onnx = [(init[n.input[1]], init[n.input[2]]) for n in g.node if n.op_type == "Conv"]
    mods = list(model.modules())
    pairs = [(m, mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) else None)
             for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]
    assert len(pairs) == len(convs_onnx), (len(pairs), len(convs_onnx))
    folded_bias = {}
    with torch.no_grad():
        for (conv, bn), (w, b) in zip(pairs, convs_onnx):
            assert tuple(conv.weight.shape) == w.shape, (conv, w.shape)
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            if bn is None:
                conv.bias.copy_(torch.from_numpy(np.array(b)))
                continue
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(b)))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            folded_bias[bn] = torch.from_numpy(np.array(b))
    stats = {}
    hooks = [bn.register_forward_pre_hook(
        lambda mod, inp: stats.__setitem__(mod, (inp[0].mean((0, 2, 3)), inp[0].var((0, 2, 3), unbiased=False))))
        for bn in folded_bias]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(np.asarray(calibration, np.float32)))
        for h in hooks:
            h.remove()
        for bn, b in folded_bias.items():
            mean, var = stats[bn]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_((var + bn.eps).sqrt())
            bn.bias.copy_(b + mean)
    model.train(was_training)


# ---------------------------------------------------------------- teacher (MediaPipe face mesh)
TEACHER = "mediapipe_face_landmark.onnx"
TEACHER_SIZE = 192


def teacher_path(shared=None) -> Path:
    return Path(shared or default_shared()) / "models" / "teachers" / TEACHER


class Teacher:
    """MediaPipe face mesh: RGB crop 192x192 in 0..1 -> 468 (x, y, z) in crop px. Crops are a
    square around the given points' box with 25 % margin (its usual ROI), two passes: the second
    re-centres on the first pass's mesh."""

    def __init__(self, shared=None, threads=1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(teacher_path(shared)), so, providers=["CPUExecutionProvider"])

    def run_square(self, bgr: np.ndarray, centre, side: float) -> np.ndarray:
        import cv2

        s = TEACHER_SIZE / side
        m = np.array([[s, 0, TEACHER_SIZE / 2 - s * centre[0]], [0, s, TEACHER_SIZE / 2 - s * centre[1]]])
        crop = cv2.warpAffine(bgr, m, (TEACHER_SIZE, TEACHER_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        out = self.sess.run(None, {"input_1": x})
        mesh = out[0].reshape(468, 3)[:, :2]
        return apply(invert(m), mesh)

    def mesh(self, bgr: np.ndarray, points_hint: np.ndarray, passes: int = 2) -> np.ndarray:
        lo, hi = points_hint.min(0), points_hint.max(0)
        centre, side = (lo + hi) / 2, (hi - lo).max() * 1.5
        mesh = self.run_square(bgr, centre, side)
        for _ in range(passes - 1):
            lo, hi = mesh.min(0), mesh.max(0)
            mesh = self.run_square(bgr, (lo + hi) / 2, (hi - lo).max() * 1.5)
        return mesh


@dataclass
class MeshMap:
    """68 iBUG points as fixed weighted sums of mesh vertices: point i = sum_j w[i,j] mesh[idx[i,j]]."""
    idx: np.ndarray   # [68,k] int
    w: np.ndarray     # [68,k] float, rows sum to 1

    def __call__(self, mesh: np.ndarray) -> np.ndarray:
        return (mesh[..., self.idx, :] * self.w[..., None]).sum(-2)

    def to_json(self):
        return {"idx": self.idx.tolist(), "w": np.round(self.w, 6).tolist()}

    @staticmethod
    def from_json(d):
        return MeshMap(np.array(d["idx"]), np.array(d["w"]))


def fit_mesh_map(meshes: np.ndarray, truth: np.ndarray, k: int = 4) -> MeshMap:
    """Per iBUG point: the k mesh vertices nearest on average (in IOD-normalised coordinates),
    then least-squares weights summing to 1 over all training faces."""
    scale = iod(truth)[:, None, None]
    mn = meshes / scale
    tn = truth / scale
    idx = np.zeros((68, k), int)
    w = np.zeros((68, k))
    for i in range(68):
        d = np.linalg.norm(mn - tn[:, i:i + 1], axis=-1).mean(0)  # [468]
        cand = np.argsort(d)[:k]
        if k == 1:
            idx[i], w[i] = cand, 1.0
            continue
        # minimise |sum_j w_j v_j - t|^2 s.t. sum w = 1: substitute w_k = 1 - sum others
        V = mn[:, cand]             # [N,k,2]
        A = (V[:, :-1] - V[:, -1:]).transpose(0, 2, 1).reshape(-1, k - 1)
        b = (tn[:, i] - V[:, -1]).reshape(-1)
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        ww = np.append(sol, 1 - sol.sum())
        idx[i], w[i] = cand, ww
    return MeshMap(idx, w)


def seeded_eval_transform(points: np.ndarray, index: int) -> np.ndarray:
    """The evaluation crop: a fixed 'box-like' perturbation per image (seeded by its index), so
    every model sees the same crops. Uses the 'box' mode of the augmentation distribution."""
    rng = np.random.default_rng(10_000 + index)
    return sample_transform(points, rng, "box")
