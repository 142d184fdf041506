"""Formatting of LOSO tables."""
from __future__ import annotations

import numpy as np

from . import CLASSES, DATASETS


def format_metrics(m: dict) -> str:
    lines = [f"{'':8s} {'UF1':>7s} {'UAR':>7s} {'acc':>7s} {'n':>4s}"]
    for k in ("overall",) + DATASETS:
        if k in m:
            lines.append(f"{k:8s} {m[k]['uf1']:7.4f} {m[k]['uar']:7.4f} {m[k]['acc']:7.4f} {m[k]['n']:4d}")
    lines.append(format_confusion(m["overall"]["confusion"]))
    return "\n".join(lines)


def format_confusion(cm) -> str:
    cm = np.asarray(cm)
    head = "confusion (rows truth, cols pred): " + " ".join(f"{c[:3]:>5s}" for c in CLASSES)
    rows = [f"{'':35s}{CLASSES[i][:3]:>3s} " + " ".join(f"{v:5d}" for v in cm[i]) for i in range(len(cm))]
    return "\n".join([head] + rows)
