"""Write the preprocessing fixture: `python -m glimpse_train.make_fixture`.

fixtures/preprocess_onset.png, fixtures/preprocess_apex.png: 64x64 8-bit grayscale, made from a
formula (no dataset images): a smooth texture, and the same texture with a local displacement
(a 'brow' bump moving up by up to 1.5 px and a 'mouth corner' moving right by up to 1 px).
fixtures/preprocess_pair.json: the Dual TV-L1 flow computed here (OpenCV version recorded), and
the expected [3,28,28] tensor from flow_to_tensor(flow) (part (a), to be matched within 1e-4).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .preprocess import TVL1_PARAMS, flow_to_tensor, tvl1_flow

FIX = Path(__file__).resolve().parents[1] / "fixtures"
N = 64


def texture(x, y):
    return (128 + 45 * np.sin(0.31 * x + 0.17 * y) + 35 * np.cos(0.23 * y - 0.19 * x + 1.0)
            + 25 * np.sin(0.11 * x * 0.9 + 0.41 * y) * np.cos(0.07 * x))


def displacement(x, y):
    """(dx, dy) in pixels of the apex relative to the onset."""
    brow = np.exp(-(((x - 22) / 7.0) ** 2 + ((y - 18) / 4.0) ** 2))
    mouth = np.exp(-(((x - 42) / 5.0) ** 2 + ((y - 46) / 4.0) ** 2))
    return 1.0 * mouth, -1.5 * brow


def make_pair():
    y, x = np.mgrid[0:N, 0:N].astype(np.float64)
    onset = texture(x, y)
    dx, dy = displacement(x, y)
    apex = texture(x - dx, y - dy)  # content at (x,y) moved by (dx,dy)
    q = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return q(onset), q(apex)


def main():
    import cv2

    FIX.mkdir(parents=True, exist_ok=True)
    onset, apex = make_pair()
    cv2.imwrite(str(FIX / "preprocess_onset.png"), onset)
    cv2.imwrite(str(FIX / "preprocess_apex.png"), apex)
    flow = tvl1_flow(onset, apex).astype(np.float32)
    flow_list = [[[float(v) for v in px] for px in row] for row in flow]
    flow_back = np.array(flow_list, dtype=np.float64)
    tensor = flow_to_tensor(flow_back)
    doc = {
        "description": "glimpse MER preprocessing fixture; see glimpse_train/preprocess.py",
        "onset_png": "preprocess_onset.png", "apex_png": "preprocess_apex.png", "size": [N, N],
        "opencv_version": cv2.__version__, "tvl1_params": TVL1_PARAMS,
        "flow_layout": "[H][W][2] (u, v) float32 values, onset -> apex, from Dual TV-L1",
        "flow": flow_list,
        "tensor_layout": "[3][28][28] float32: channel 0 strain, 1 v, 2 u, each min-max to 0..255",
        "tensor": [[[float(v) for v in row] for row in ch] for ch in tensor],
        "tolerance_flow_to_tensor": 1e-4,
        "note": "the flow itself depends on the OpenCV build; compare tensors computed from the stored flow",
    }
    (FIX / "preprocess_pair.json").write_text(json.dumps(doc))
    print("flow u range", flow[..., 0].min(), flow[..., 0].max(), "v range", flow[..., 1].min(), flow[..., 1].max())
    print("wrote", FIX)


if __name__ == "__main__":
    main()
