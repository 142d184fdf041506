"""Runtime preprocessing reference: onset + apex aligned grayscale face crops -> MER input tensor.

Two parts, so that a reimplementation (the Rust side) can be checked piece by piece:

(b) flow step  `tvl1_flow(onset, apex)`: OpenCV Dual TV-L1 (contrib optflow) from onset to apex,
    default parameters written out explicitly. Different OpenCV versions/builds may differ slightly
    here; the fixture stores the flow so that (a) can be checked on its own.
(a) flow -> tensor `flow_to_tensor(flow)`: deterministic numpy, f64 inside:
    1. optical strain at the flow's resolution, central differences (numpy.gradient: (f[i+1]-f[i-1])/2
       inside, one-sided f[1]-f[0] / f[-1]-f[-2] at the borders):
           strain = sqrt(ux^2 + vy^2 + 0.5 * (uy + vx)^2)
    2. u, v and strain each resized to 28x28 with an exact area (box) filter (== cv2.INTER_AREA),
    3. each channel min-max normalised on its own to 0..255: (c - min) / (max - min) * 255
       (all zeros when max == min); no rounding to integers,
    4. stacked in the order of the training PNGs read by OpenCV (BGR): [strain, v, u] -> [3,28,28] f32.
u is the horizontal flow (+ = to the right in the image), v the vertical flow (+ = downwards).
"""
from __future__ import annotations

import numpy as np

SIZE = 28
# Where the MEGC2019 flow images have the eye centres, as shares of their side (models/mer.md).
MER_EYE_X = (0.25, 0.75)
MER_EYE_Y = 0.195

TVL1_PARAMS = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01,
                   innerIterations=30, outerIterations=10, scaleStep=0.8, gamma=0.0,
                   medianFiltering=5, useInitialFlow=False)


def tvl1_flow(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """Dual TV-L1 optical flow onset -> apex on uint8 grayscale crops of the same size.
    Returns [H,W,2] float32 (u, v) in pixels."""
    import cv2

    if onset.shape != apex.shape or onset.ndim != 2:
        raise ValueError("onset and apex must be 2-D grayscale images of the same size")
    p = TVL1_PARAMS
    # positional: the Python binding spells one keyword "innnerIterations"
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
        p["tau"], p["lambda_"], p["theta"], p["nscales"], p["warps"], p["epsilon"], p["innerIterations"],
        p["outerIterations"], p["scaleStep"], p["gamma"], p["medianFiltering"], p["useInitialFlow"])
    return tvl1.calc(np.ascontiguousarray(onset, np.uint8), np.ascontiguousarray(apex, np.uint8), None)


def area_weights(n_in: int, n_out: int = SIZE) -> np.ndarray:
    """[n_out, n_in] box-filter weights: output pixel i averages input interval [i*s, (i+1)*s), s = n_in/n_out,
    each input pixel k weighted by its overlap with that interval, divided by s."""
    s = n_in / n_out
    w = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        a, b = i * s, (i + 1) * s
        for k in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
            ov = min(b, k + 1) - max(a, k)
            if ov > 0:
                w[i, k] = ov / s
    return w


def area_resize(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Exact area resize of a 2-D array to size x size (downscaling), f64."""
    img = np.asarray(img, dtype=np.float64)
    wy = area_weights(img.shape[0], size)
    wx = area_weights(img.shape[1], size)
    return wy @ img @ wx.T


def optical_strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    return np.sqrt(ux ** 2 + vy ** 2 + 0.5 * (uy + vx) ** 2)


def minmax255(c: np.ndarray) -> np.ndarray:
    lo, hi = float(c.min()), float(c.max())
    if hi - lo <= 0.0:
        return np.zeros_like(c, dtype=np.float64)
    return (c - lo) / (hi - lo) * 255.0


def flow_to_tensor(flow: np.ndarray) -> np.ndarray:
    """[H,W,2] (u, v) flow -> [3,28,28] float32 model input (strain, v, u), each 0..255."""
    flow = np.asarray(flow, dtype=np.float64)
    u, v = flow[..., 0], flow[..., 1]
    if min(u.shape) < SIZE:
        raise ValueError(f"flow must be at least {SIZE}x{SIZE}")
    s = optical_strain(u, v)
    chans = [minmax255(area_resize(c)) for c in (s, v, u)]
    return np.stack(chans).astype(np.float32)


def preprocess(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """Aligned grayscale onset and apex crops (uint8, same size, >= 28x28) -> [3,28,28] float32."""
    return flow_to_tensor(tvl1_flow(onset, apex))


def mer_frame(crop_size: int = 128) -> tuple:
    """(x0, y0, side), unrounded, in px of a canonical face crop (the pipeline's aligned crop,
    `src/face/template.rs`): the square framed as the training images, the template's eye
    centres where MER_EYE_X / MER_EYE_Y put them. The synthetic pretraining events are framed by
    it (`mer_synth.canonical_to_megc`), the runtime by `mer_window`."""
    from .landmarks import TEMPLATE

    t = np.asarray(TEMPLATE, np.float64) * (crop_size / 128.0)
    left, right = t[36:42].mean(0), t[42:48].mean(0)
    side = float(np.linalg.norm(right - left)) / (MER_EYE_X[1] - MER_EYE_X[0])
    mid = (left + right) / 2
    return mid[0] - side * (MER_EYE_X[0] + MER_EYE_X[1]) / 2, mid[1] - side * MER_EYE_Y, side


def mer_window(crop_size: int = 128) -> tuple:
    """(x0, y0, side) in whole px: `mer_frame` rounded and kept inside the crop, as `mer_window`
    in `src/recognition/input.rs` (x 23, y 26, side 82 at 128 px). The runtime cuts onset and
    apex to it before `preprocess`."""
    import math

    x0, y0, side = mer_frame(crop_size)
    rnd = lambda v: int(math.floor(v + 0.5))  # noqa: E731  (Rust's f64::round for positives)
    side_px = min(max(rnd(side), SIZE), crop_size)
    return (min(max(rnd(x0), 0), crop_size - side_px), min(max(rnd(y0), 0), crop_size - side_px), side_px)
