"""Diagnostic: how much choosing the epoch on the test subject adds to a LOSO score.

`python -m glimpse_train selection-bias --recipe f5cnet_v4 --seeds 0 1 2 [--jobs 2]`

Never a recipe and never a choice: it measures the protocol, not a model. It trains a recipe's
LOSO folds exactly as `loso` does (same seeds, same steps: the last epoch's predictions equal the
recipe's own run in reports/runs/) and, after every epoch of every member, also records that
member's probabilities on the held-out subject. From that record it scores four ways of
picking the predictions:
- **last epoch**: the strict protocol (the recipe's fixed length; our published numbers);
- **one epoch for all folds**: the epoch whose pooled 442 test predictions have the highest UF1
  (a length tuned on the test subjects);
- **each fold's best epoch**: per held-out subject, the epoch with the most correct predictions on
  that subject (the latest such epoch on ties) — how HTNet's and MOL's released code pick theirs;
- **last epoch, class offsets tuned**: the last epoch with two constants added to the positive and
  surprise log-probabilities, chosen where the pooled test predictions have the highest UF1 (the
  most a decision threshold could add; an honest one would be tuned on training subjects).
Each for the recipe's ensemble and for its member 0 alone (one network, as HTNet is).
The per-epoch probabilities go to cache/selection_bias/ (not committed), the summary to
reports/selection_bias_<recipe>.json and a table to reports/selection_bias_<recipe>.txt.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from . import DATASETS
from .data import MegcData, load_megc
from .eval import run_workers
from .loso import REPORTS, fold_seed, run_path
from .metrics import summary, uf1_uar
from .train import RECIPES, components

CACHE = Path(__file__).resolve().parents[1] / "cache" / "selection_bias"
SELECTIONS = ("last epoch", "one epoch for all folds", "each fold's best epoch", "last epoch, class offsets tuned")
OFFSETS = np.round(np.arange(-2.0, 2.0001, 0.05), 2)   # added to the positive and surprise log-probabilities


def record_path(recipe: str, seed: int) -> Path:
    return CACHE / f"{recipe}_s{seed}.npz"


def record_epochs(data: MegcData, recipe: str, seed: int, log_every: bool = True) -> np.ndarray:
    """probs[member, epoch, sample, class]: every member's test probabilities after every epoch,
    each sample predicted by the fold that holds out its subject. Trained as `loso.loso_train` trains."""
    import torch

    from .train import train_model

    r = RECIPES[recipe]
    if components(recipe) or r.get("mirror_average"):
        raise ValueError(f"{recipe}: the diagnostic records recipes whose members are plain networks")
    probs = np.full((r.get("members", 1), r["epochs"], len(data.y), 3), np.nan, dtype=np.float32)
    for k, subj in enumerate(data.subjects):
        te = np.where(data.subject == subj)[0]
        tr = np.where(data.subject != subj)[0]
        xte = torch.from_numpy(np.ascontiguousarray(data.x[te], dtype=np.float32))
        t0 = time.time()

        def keep(m, ep, model):
            with torch.no_grad():
                probs[m, ep, te] = torch.softmax(model(xte), 1).numpy()

        train_model(recipe, data.x[tr], data.y[tr], seed=fold_seed(seed, k), after_epoch=keep)
        if log_every:
            print(f"  fold {k:2d} {subj:14s} n={len(te):2d} {time.time() - t0:.1f}s", flush=True)
    if np.isnan(probs).any():
        raise RuntimeError(f"{recipe} seed {seed}: some sample was never predicted")
    return probs


def ensemble_log_probs(probs: np.ndarray) -> np.ndarray:
    """[member, epoch, sample, 3] -> [epoch, sample, 3]: the log of the members' mean probability
    (what `Ensemble` outputs)."""
    return np.log(probs.astype(np.float64).mean(0))


def select(log_probs: np.ndarray, y: np.ndarray, subject: np.ndarray) -> dict:
    """log_probs[epoch, sample, 3] -> {selection: (predictions [sample], epochs chosen)}."""
    preds = log_probs.argmax(2)                       # [epoch, sample]
    n_epochs = preds.shape[0]
    out = {"last epoch": (preds[-1], [n_epochs])}
    pooled = [uf1_uar(y, p)[0] for p in preds]
    best = int(np.argmax(pooled))
    out["one epoch for all folds"] = (preds[best], [best + 1])
    per_fold = np.empty_like(preds[-1])
    chosen = []
    for subj in dict.fromkeys(subject.tolist()):
        te = np.where(subject == subj)[0]
        correct = (preds[:, te] == y[te]).sum(1)
        e = int(np.flatnonzero(correct == correct.max())[-1])
        per_fold[te] = preds[e, te]
        chosen.append(e + 1)
    out["each fold's best epoch"] = (per_fold, chosen)
    out["last epoch, class offsets tuned"] = (tuned_offsets(log_probs[-1], y), [n_epochs])
    return out


def tuned_offsets(log_probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Predictions after adding the offsets to the positive and surprise log-probabilities that
    give the pooled predictions the highest UF1 (the first on ties, in `OFFSETS` order): the most
    that a decision threshold tuned on the test subjects could add."""
    best, best_pred = -1.0, None
    for b1 in OFFSETS:
        for b2 in OFFSETS:
            pred = (log_probs + np.array([0.0, b1, b2])).argmax(1)
            f = uf1_uar(y, pred)[0]
            if f > best:
                best, best_pred = f, pred
    return best_pred


def score_seed(data: MegcData, probs: np.ndarray) -> dict:
    """Metrics of every selection, for the ensemble and for member 0 alone."""
    res = {}
    for who, lp in (("ensemble", ensemble_log_probs(probs)), ("member 0", np.log(probs[0].astype(np.float64)))):
        res[who] = {}
        for name, (pred, chosen) in select(lp, data.y, data.subject).items():
            res[who][name] = {"metrics": summary(data.y, pred, data.dataset),
                              "epochs_chosen": {"min": min(chosen), "median": float(np.median(chosen)),
                                                "max": max(chosen),
                                                "folds_not_at_the_last": sum(c != probs.shape[1] for c in chosen)}}
    return res


def check_against_run(data: MegcData, recipe: str, seed: int, probs: np.ndarray) -> float | None:
    """Largest difference between the last epoch's ensemble log-probabilities and the recipe's own
    LOSO run (saved to 4 decimals); None when that run is not in reports/runs/."""
    f = run_path(recipe, seed)
    if not f.exists():
        return None
    saved = np.asarray(json.loads(f.read_text())["logits_in_labels_csv_order"], dtype=np.float64)
    last = ensemble_log_probs(probs)[-1]
    if RECIPES[recipe].get("members", 1) == 1:   # a single network's run saves raw logits
        saved = saved - np.log(np.exp(saved).sum(1, keepdims=True))
    return float(np.abs(last - saved).max())


def offsets_on_saved_runs(data: MegcData, recipe: str, seeds) -> dict:
    """The class-offset oracle on a recipe's saved LOSO runs (reports/runs/; e.g. the shipped
    `mer_v6`, whose members the diagnostic does not record): {seed: (saved, tuned) metrics}."""
    out = {}
    for s in seeds:
        f = run_path(recipe, s)
        if f.exists():
            lp = np.asarray(json.loads(f.read_text())["logits_in_labels_csv_order"], dtype=np.float64)
            out[s] = {"saved": summary(data.y, lp.argmax(1))["overall"],
                      "class offsets tuned": summary(data.y, tuned_offsets(lp, data.y))["overall"]}
    return out


def table(recipe: str, per_seed: dict) -> str:
    seeds = sorted(per_seed)
    lines = [f"selection-bias diagnostic, recipe {recipe}, seeds {' '.join(map(str, seeds))} "
             f"(mean ± sample std over seeds; UF1 / UAR over all 442 LOSO predictions)", ""]
    for who in ("ensemble", "member 0"):
        lines.append(f"{who}:")
        lines.append(f"  {'selection':32s} {'UF1':>17s} {'UAR':>17s}  " + "  ".join(f"{d:>13s}" for d in DATASETS)
                     + "   epochs chosen")
        for name in SELECTIONS:
            rows = [per_seed[s][who][name] for s in seeds]

            def ms(key, part="overall"):
                v = np.array([row["metrics"][part][key] for row in rows])
                return v.mean(), (v.std(ddof=1) if len(v) > 1 else 0.0)

            uf1, uar = ms("uf1"), ms("uar")
            per_dataset = "  ".join(f"{ms('uf1', d)[0]:.3f} / {ms('uar', d)[0]:.3f}" for d in DATASETS)
            chosen = "; ".join(f"{row['epochs_chosen']['min']}-{row['epochs_chosen']['max']}, "
                               f"{row['epochs_chosen']['folds_not_at_the_last']} folds not at the last"
                               if row['epochs_chosen']['min'] != row['epochs_chosen']['max']
                               else f"{row['epochs_chosen']['min']}" for row in rows)
            lines.append(f"  {name:32s} {uf1[0]:.4f} ± {uf1[1]:.4f}  {uar[0]:.4f} ± {uar[1]:.4f}  {per_dataset}   {chosen}")
        lines.append("")
    return "\n".join(lines)


def run_seed(recipe: str, seed: int, shared) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("GLIMPSE_THREADS", "1")))
    data = load_megc(shared)
    t0 = time.time()
    probs = record_epochs(data, recipe, seed)
    out = record_path(recipe, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, probs=probs)
    print(f"{recipe} seed {seed}: {time.time() - t0:.0f}s -> {out}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="f5cnet_v4", choices=[r for r in RECIPES if not components(r)])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="seeds recorded at once, 1 torch thread each")
    ap.add_argument("--data", default=None, help="shared root (default $GLIMPSE_SHARED or ../shared)")
    ap.add_argument("--rerun", action="store_true", help="record again even where a record exists")
    ap.add_argument("--saved", nargs="*", default=["mer_v6"],
                    help="recipes whose saved LOSO runs also get the class-offset oracle (default: mer_v6)")
    ap.add_argument("--one-seed", type=int, default=None, help=argparse.SUPPRESS)   # a worker process
    a = ap.parse_args(argv)
    if a.one_seed is not None:
        run_seed(a.recipe, a.one_seed, a.data)
        return 0
    data = load_megc(a.data)
    todo = [s for s in a.seeds if a.rerun or not record_path(a.recipe, s).exists()]
    if todo and RECIPES[a.recipe].get("pretrained"):   # once, before the parallel workers need it
        from .mer_pretrain import pretrained_weights

        pretrained_weights()
    run_workers([(["glimpse_train", "selection-bias", "--recipe", a.recipe, "--one-seed", str(s)]
                  + (["--data", a.data] if a.data else []),
                  REPORTS / "runs" / f"selection_bias_{a.recipe}_s{s}.log", f"selection-bias {a.recipe} seed {s}")
                 for s in todo], a.jobs)
    per_seed, checks = {}, {}
    for s in a.seeds:
        probs = np.load(record_path(a.recipe, s))["probs"]
        per_seed[s] = score_seed(data, probs)
        checks[s] = check_against_run(data, a.recipe, s, probs)
    text = table(a.recipe, per_seed)
    text += "\nlast epoch vs the recipe's own LOSO run (reports/runs/), largest log-probability difference: " + \
        ", ".join(f"seed {s}: {'no run' if c is None else f'{c:.1e}'}" for s, c in checks.items()) + "\n"
    saved = {r: offsets_on_saved_runs(data, r, a.seeds) for r in a.saved}
    for r, runs in saved.items():
        if runs:
            text += f"\n{r}'s saved LOSO runs, UF1 / UAR as saved -> with class offsets tuned on their test predictions: " + \
                ", ".join(f"seed {s}: {v['saved']['uf1']:.4f} / {v['saved']['uar']:.4f} -> "
                          f"{v['class offsets tuned']['uf1']:.4f} / {v['class offsets tuned']['uar']:.4f}"
                          for s, v in runs.items()) + "\n"
    print(text)
    (REPORTS / f"selection_bias_{a.recipe}.txt").write_text(text)
    (REPORTS / f"selection_bias_{a.recipe}.json").write_text(json.dumps(
        {"recipe": a.recipe, "recipe_settings": RECIPES[a.recipe], "seeds": a.seeds,
         "selections": list(SELECTIONS), "per_seed": per_seed,
         "last_epoch_vs_loso_run_max_abs_difference": checks,
         "class_offsets_tuned_on_saved_runs": saved}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
