"""Leave-one-subject-out harness + `python -m glimpse_train.loso --recipe f5cnet --seed 0`.

One model per held-out subject (68 folds), trained on the other 67 subjects with a fixed recipe,
one prediction per test sample. Writes reports/runs/<recipe>_s<seed>.json with every prediction (in labels.csv order)
and a per-fold log.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from . import CLASSES
from .data import MegcData, load_megc
from .metrics import summary
from .train import RECIPES, components

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def run_loso(data: MegcData, fit_predict, log_every: bool = True) -> dict:
    """fit_predict(train_idx, test_idx, fold, subject, log) -> logits [len(test_idx),3]."""
    n = len(data.y)
    logits = np.zeros((n, 3), dtype=np.float64)
    done = np.zeros(n, dtype=bool)
    folds = []
    for k, subj in enumerate(data.subjects):
        te = np.where(data.subject == subj)[0]
        tr = np.where(data.subject != subj)[0]
        t0 = time.time()
        log: dict = {"fold": k, "subject": subj, "n_test": int(len(te)), "n_train": int(len(tr))}
        lg = np.asarray(fit_predict(tr, te, k, subj, log), dtype=np.float64)
        assert lg.shape == (len(te), 3)
        assert not done[te].any(), "a sample predicted twice"
        logits[te] = lg
        done[te] = True
        pred = lg.argmax(1)
        log["correct"] = int((pred == data.y[te]).sum())
        log["seconds"] = round(time.time() - t0, 2)
        folds.append(log)
        if log_every:
            print(f"  fold {k:2d} {subj:14s} n={len(te):2d} correct={log['correct']:2d} "
                  f"{log['seconds']:.1f}s", flush=True)
    assert done.all()
    pred = logits.argmax(1)
    return {
        "metrics": summary(data.y, pred, data.dataset),
        "folds": folds,
        # our predictions only, in labels.csv order (no sample names or labels: those stay in shared/)
        "predictions_in_labels_csv_order": [int(p) for p in pred],
        "logits_in_labels_csv_order": [[round(float(v), 4) for v in lg] for lg in logits],
        "classes": list(CLASSES),
    }


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of LOSO fold `fold` in the run of seed `seed` (`train_model` derives its
    members' seeds from it)."""
    return seed * 1000 + fold


def loso_train(data: MegcData, recipe: str, seed: int) -> dict:
    import torch

    from .train import predict_logits, train_model

    torch.set_num_threads(int(os.environ.get("GLIMPSE_THREADS", "1")))

    def fit_predict(tr, te, k, subj, log):
        model = train_model(recipe, data.x[tr], data.y[tr], seed=fold_seed(seed, k), log=log)
        return predict_logits(model, data.x[te])

    t0 = time.time()
    res = run_loso(data, fit_predict)
    res.update({"arch": RECIPES[recipe]["arch"], "recipe_name": recipe, "seed": seed, "recipe": RECIPES[recipe],
                "seconds": round(time.time() - t0, 1)})
    return res


def run_path(recipe: str, seed: int) -> Path:
    return REPORTS / "runs" / f"{recipe}_s{seed}.json"


def combined_run(data: MegcData, recipe: str, seed: int) -> dict:
    """A combined recipe's LOSO run from its components' runs of the same seed (each trained by
    its own recipe; `eval` runs the missing ones first): per sample, the members' probabilities
    averaged with equal weight per member. A component run's saved logits are the log of its own
    members' mean probability (4 decimals), so the mean over runs weighted by their member
    counts is the mean over all members."""
    parts = components(recipe)
    runs = []
    for part in parts:
        f = run_path(part, seed)
        if not f.exists():
            raise FileNotFoundError(f"{recipe} combines {part}, whose seed-{seed} run {f} does not exist: "
                                    f"run `python -m glimpse_train eval --recipes {recipe} --seeds {seed}`")
        runs.append(json.loads(f.read_text()))
    weights = np.array([RECIPES[p].get("members", 1) for p in parts], dtype=np.float64)
    probs = sum(w * np.exp(np.asarray(r["logits_in_labels_csv_order"], dtype=np.float64))
                for w, r in zip(weights, runs)) / weights.sum()
    if probs.shape != (len(data.y), 3):
        raise ValueError(f"{recipe}: component runs hold {probs.shape[0]} predictions, the data {len(data.y)}")
    logits = np.log(probs)
    pred = logits.argmax(1)
    folds = []
    for k, fold in enumerate(runs[0]["folds"]):
        te = np.where(data.subject == fold["subject"])[0]
        folds.append({"fold": k, "subject": fold["subject"], "n_test": int(len(te)),
                      "correct": int((pred[te] == data.y[te]).sum()),
                      "seconds": round(sum(r["folds"][k]["seconds"] for r in runs), 2)})
    return {"metrics": summary(data.y, pred, data.dataset), "folds": folds,
            "predictions_in_labels_csv_order": [int(p) for p in pred],
            "logits_in_labels_csv_order": [[round(float(v), 4) for v in lg] for lg in logits],
            "classes": list(CLASSES), "arch": RECIPES[recipe]["arch"], "recipe_name": recipe, "seed": seed,
            "recipe": RECIPES[recipe], "components": list(parts),
            "seconds": round(sum(r.get("seconds", 0.0) for r in runs), 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipe", required=True, choices=list(RECIPES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="shared root (default $GLIMPSE_SHARED or ../shared)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    data = load_megc(a.data)
    res = combined_run(data, a.recipe, a.seed) if components(a.recipe) else loso_train(data, a.recipe, a.seed)
    out = Path(a.out) if a.out else run_path(a.recipe, a.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    m = res["metrics"]["overall"]
    print(f"{a.recipe} seed {a.seed}: UF1 {m['uf1']:.4f} UAR {m['uar']:.4f} acc {m['acc']:.4f} -> {out}")


if __name__ == "__main__":
    main()
