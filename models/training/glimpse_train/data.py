"""MEGC2019 composite loader (442 samples, 68 subjects, 3 classes).

The flow PNGs are read with OpenCV, i.e. in BGR order, and kept as raw 0..255 floats:
channel 0 = optical strain, 1 = v (vertical flow, +down), 2 = u (horizontal flow, +right),
each channel min-max normalised per image to 0..255 by whoever made them (see models/mer.md).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[3]


def default_shared() -> Path:
    env = os.environ.get("GLIMPSE_SHARED")
    if env:
        return Path(env)
    return (REPO_ROOT / ".." / "shared").resolve()


def megc_dir(shared: str | Path | None = None) -> Path:
    return Path(shared or default_shared()) / "data" / "megc2019"


def shared_available(shared: str | Path | None = None) -> bool:
    return (megc_dir(shared) / "labels.csv").is_file()


@dataclass
class MegcData:
    x: np.ndarray          # [N,3,28,28] float32, BGR (strain, v, u), raw 0..255
    y: np.ndarray          # [N] int64, 0 negative / 1 positive / 2 surprise
    subject: np.ndarray    # [N] str, e.g. "casme2_sub01"
    dataset: np.ndarray    # [N] str, casme2 / samm / smic
    sample: np.ndarray     # [N] str

    @property
    def subjects(self) -> list[str]:
        # stable order: order of first appearance in labels.csv
        seen: dict[str, None] = {}
        for s in self.subject:
            seen.setdefault(str(s), None)
        return list(seen)


def load_megc(shared: str | Path | None = None) -> MegcData:
    import cv2

    root = megc_dir(shared)
    if not (root / "labels.csv").is_file():
        raise FileNotFoundError(f"MEGC2019 data not found under {root} (set --data or GLIMPSE_SHARED)")
    xs, ys, subj, ds, names = [], [], [], [], []
    with open(root / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            im = cv2.imread(str(root / r["flow"]), cv2.IMREAD_COLOR)  # BGR uint8
            if im is None or im.shape != (28, 28, 3):
                raise ValueError(f"bad flow image {r['flow']}")
            xs.append(im.transpose(2, 0, 1).astype(np.float32))
            ys.append(int(r["label"]))
            subj.append(r["subject"])
            ds.append(r["dataset"])
            names.append(r["sample"])
    return MegcData(np.stack(xs), np.array(ys, dtype=np.int64), np.array(subj), np.array(ds), np.array(names))


def reference_weight_name(subject: str) -> str:
    """casme2_sub01 -> sub01 (the reference .pth file stem)."""
    return subject.split("_", 1)[1]
