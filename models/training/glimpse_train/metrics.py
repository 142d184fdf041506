"""Composite MER metrics: UF1 and UAR from summed TP/FP/FN over all predictions."""
from __future__ import annotations

import numpy as np


def confusion(y_true, y_pred, n_classes: int = 3) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)  # rows = truth, cols = prediction
    for t, p in zip(np.asarray(y_true), np.asarray(y_pred)):
        cm[int(t), int(p)] += 1
    return cm


def uf1_uar(y_true, y_pred, n_classes: int = 3) -> tuple[float, float]:
    """Unweighted F1 and unweighted average recall.

    Per class c: F1_c = 2TP/(2TP+FP+FN); recall_c = TP/N_c. A class with no samples and no
    predictions (2TP+FP+FN == 0) counts as F1 = 0 and recall 0 only if it has samples; classes
    with N_c = 0 are skipped in the UAR, and in the UF1 when also never predicted.
    """
    cm = confusion(y_true, y_pred, n_classes)
    f1s, recs = [], []
    for c in range(n_classes):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        n = cm[c, :].sum()
        if 2 * tp + fp + fn > 0:
            f1s.append(2 * tp / (2 * tp + fp + fn))
        if n > 0:
            recs.append(tp / n)
    return float(np.mean(f1s)) if f1s else 0.0, float(np.mean(recs)) if recs else 0.0


def accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def summary(y_true, y_pred, dataset=None) -> dict:
    """Overall and per-dataset UF1/UAR/accuracy + confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    uf1, uar = uf1_uar(y_true, y_pred)
    out = {"overall": {"uf1": uf1, "uar": uar, "acc": accuracy(y_true, y_pred), "n": int(len(y_true)),
                       "confusion": confusion(y_true, y_pred).tolist()}}
    if dataset is not None:
        dataset = np.asarray(dataset)
        for d in sorted(set(dataset.tolist())):
            m = dataset == d
            f, r = uf1_uar(y_true[m], y_pred[m])
            out[d] = {"uf1": f, "uar": r, "acc": accuracy(y_true[m], y_pred[m]), "n": int(m.sum()),
                      "confusion": confusion(y_true[m], y_pred[m]).tolist()}
    return out
