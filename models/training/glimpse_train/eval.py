"""LOSO evaluation table: `python -m glimpse_train.eval [--seeds 0 1 2] [--jobs 2] [--recipes ststnet f5cnet f5cnet_v2 ststnet_v2 f5cnet_v3 f5cnet_v4 f5cnet_v5 mer_v6 f5cnet_v7]`.

Runs every (recipe, seed) LOSO run that is not yet in reports/runs/ (each in its own process,
`--jobs` at a time, 1 torch thread each), then prints overall + per-dataset UF1/UAR/accuracy as
mean ± sample std over seeds, the confusion matrix summed over seeds, the reference STSTNet
weights and the published rows, and writes reports/loso_report.json.
A combined recipe (`mer_v6`) trains nothing of its own: its components' runs are run when
missing, and its run is rebuilt from theirs (`loso.combined_run`) whenever it is asked for.
`--rerun` discards existing runs first. The printed table has the recipes asked for; the report
has every recipe with finished runs for those seeds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import DATASETS
from .loso import REPORTS, combined_run, run_path
from .report import format_confusion
from .train import RECIPES, components

TITLES = {"ststnet": "STSTNet retrained", "f5cnet": "F5CNet (ours)", "f5cnet_v2": "F5CNet v2 (ours)",
          "ststnet_v2": "STSTNet, v2 recipe", "f5cnet_v3": "F5CNet v3 (ours)",
          "f5cnet_v4": "F5CNet v4 (ours, pretrained)", "f5cnet_v5": "F5CNet v5 (ours, co-trained)",
          "mer_v6": "v6 (ours, v4+v5+STSTNet v2)", "f5cnet_v7": "F5CNet v7 (ours, + regions)"}

PUBLISHED = {"STSTNet": (0.7353, 0.7605), "FeatRef": (0.7838, 0.7832), "EMR": (0.7885, 0.7824),
             "HTNet (epoch picked on test subject)": (0.8603, 0.8475)}


def run_workers(todo: list, jobs: int) -> None:
    """Runs each (module and arguments for `python -m`, log file, label) in its own process with one
    torch thread, `jobs` at a time, in order; stops, naming the log, when one fails."""
    env = dict(os.environ, GLIMPSE_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    todo, running = list(todo), []
    while todo or running:
        while todo and len(running) < jobs:
            args, log, label = todo.pop(0)
            log.parent.mkdir(parents=True, exist_ok=True)
            logf = log.open("w")
            print("running", " ".join(args), flush=True)
            running.append((subprocess.Popen([sys.executable, "-m", *args], stdout=logf, stderr=subprocess.STDOUT, env=env),
                            log, label, logf))
        time.sleep(2)
        for r in list(running):
            proc, log, label, logf = r
            if proc.poll() is not None:
                logf.close()
                running.remove(r)
                if proc.returncode != 0:
                    raise SystemExit(f"run {label} failed, see {log}")
                print(f"finished {label}", flush=True)


def run_missing(recipes, seeds, jobs, data, rerun):
    combined = [r for r in recipes if components(r)]
    trained = list(dict.fromkeys([r for r in recipes if not components(r)] + [p for r in combined for p in components(r)]))
    for recipe in combined:   # rebuilt from its components' runs whenever asked for
        for s in seeds:
            run_path(recipe, s).unlink(missing_ok=True)
    todo = []
    for recipe in trained:
        for s in seeds:
            f = run_path(recipe, s)
            if rerun and f.exists():
                f.unlink()
            if not f.exists():
                todo.append((recipe, s))
    if any(RECIPES[r].get("pretrained") for r, _ in todo):   # once, before the parallel runs need it
        from .mer_pretrain import pretrained_weights

        pretrained_weights()
    # longest first
    todo.sort(key=lambda t: (-RECIPES[t[0]]["epochs"] * RECIPES[t[0]]["members"], t[0] != "f5cnet", t[1]))
    run_workers([(["glimpse_train.loso", "--recipe", recipe, "--seed", str(s)] + (["--data", data] if data else []),
                  REPORTS / "runs" / f"{recipe}_s{s}.log", f"{recipe} seed {s}") for recipe, s in todo], jobs)
    if combined:
        from .data import load_megc

        megc = load_megc(data)
        for recipe in combined:
            for s in seeds:
                run_path(recipe, s).write_text(json.dumps(combined_run(megc, recipe, s), indent=1))


def aggregate(recipe, seeds):
    seeds = [s for s in seeds if run_path(recipe, s).exists()]
    if not seeds:
        return None
    runs = [json.loads(run_path(recipe, s).read_text()) for s in seeds]
    out = {"recipe_name": recipe, "seeds": list(seeds), "recipe": runs[0].get("recipe")}
    for k in ("overall",) + DATASETS:
        ent = {}
        for met in ("uf1", "uar", "acc"):
            v = np.array([r["metrics"][k][met] for r in runs])
            ent[met] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                        "min": float(v.min()), "max": float(v.max()), "per_seed": [float(x) for x in v]}
        ent["n"] = runs[0]["metrics"][k]["n"]
        ent["confusion_sum_over_seeds"] = np.sum([r["metrics"][k]["confusion"] for r in runs], 0).tolist()
        out[k] = ent
    out["seconds_per_run"] = [r.get("seconds") for r in runs]
    return out


def fmt(e):
    return f"{e['mean']:.4f} ± {e['std']:.4f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", default=None)
    ap.add_argument("--rerun", action="store_true")
    ap.add_argument("--no-train", action="store_true", help="only aggregate existing runs")
    a = ap.parse_args(argv)
    if not a.no_train:
        run_missing(a.recipes, a.seeds, a.jobs, a.data, a.rerun)
    report = {"protocol": "LOSO over 68 subjects, 442 predictions, UF1/UAR composite (summed TP/FP/FN), "
                          "fixed recipe, last epoch, no selection on the test subject; mean ± sample std over seeds",
              "models": {}, "published": PUBLISHED}
    ref = REPORTS / "reference_ststnet.json"
    if ref.exists():
        report["reference_ststnet_weights"] = json.loads(ref.read_text())["metrics"]
    # The report keeps every recipe with finished runs, not only those asked for: a run of one
    # recipe must not drop the others' rows from loso_report.json.
    for recipe in RECIPES:
        agg = aggregate(recipe, a.seeds)
        asked = recipe in a.recipes
        if agg is None:
            if asked:
                print(f"no finished runs for {recipe}")
            continue
        if asked and len(agg["seeds"]) < len(a.seeds):
            print(f"WARNING: {recipe} has only seeds {agg['seeds']} of {a.seeds} finished")
        report["models"][recipe] = agg
    print(f"\nLOSO, MEGC2019 composite (442 samples, 68 subjects): mean ± std over seeds")
    print(f"{'model':38s} {'set':8s} {'UF1':>17s} {'UAR':>17s} {'acc':>17s}")
    for recipe, m in report["models"].items():
        if recipe not in a.recipes:
            continue
        name = f"{TITLES[recipe]} seeds {m['seeds']}"
        for k in ("overall",) + DATASETS:
            print(f"{name:38s} {k:8s} "
                  f"{fmt(m[k]['uf1']):>17s} {fmt(m[k]['uar']):>17s} {fmt(m[k]['acc']):>17s}")
        print(format_confusion(m["overall"]["confusion_sum_over_seeds"]) + "  (summed over seeds)\n")
    if "reference_ststnet_weights" in report:
        r = report["reference_ststnet_weights"]
        for k in ("overall",) + DATASETS:
            print(f"{'STSTNet reference weights':38s} {k:8s} {r[k]['uf1']:17.4f} {r[k]['uar']:17.4f} {r[k]['acc']:17.4f}")
    for name, (f, u) in PUBLISHED.items():
        print(f"{'published ' + name:38s} {'overall':8s} {f:17.4f} {u:17.4f}")
    out = REPORTS / "loso_report.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
