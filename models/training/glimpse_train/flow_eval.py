"""`python -m glimpse_train flow-eval [--model ../flow.onnx [--label ours]]... [--pairs 400] [--set validation]`: end-point
error and time per pair of the flow model(s) (`--model` may be repeated, each with its `--label`)
and of OpenCV's DIS (the pipeline's settings), Farneback and
Dual TV-L1 on the same fixed held-out pairs (`flow.held_out_pairs`: faces of people never
trained on, each pair seeded by its index). Prints a table, writes reports/flow_eval.json and
reports/flow_eval_table.txt. `--set validation`: 200 pairs from training faces instead
(`flow.validation_pairs`), for choosing between recipes without the held-out faces
(reports/flow_eval_validation.json).

EPE columns: *all* = every pixel of the 128 x 128 crop; *local* = the pixels whose local
(expression) motion is at least 0.2 px, the micro-expression motion itself; by the pair's local
peak (0.2-1, 1-2, 2-4 px); *still face* = pairs with head motion only, no local motion (what a
method invents on a neutral face). Time: median ms per pair on a 128 x 128 pair, with 1 and 2
threads (ORT intra-op threads; cv2.setNumThreads), on the shared machine under its current load;
the methods take turns pair by pair, so that load changes during the run hit them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from .export import MODELS_DIR, ort_session
from .flow import Classical, build_pool, epe, held_out_pairs, validation_pairs
from .flow_train import LOCAL_PX
from .loso import REPORTS

CLASSICAL = ["dis", "farneback", "tvl1"]
LABELS = {"ours": "flow.onnx (ours)", "dis": "DIS (pipeline settings)", "farneback": "Farneback",
          "tvl1": "Dual TV-L1"}


def run_ours(sess, a, b):
    out = sess.run(["flow"], {"previous": a[None, None], "current": b[None, None]})[0]
    return out[0]


def turn_times(fns: dict, pairs, reps=3, warmup=5) -> dict:
    """ms per pair of each method ([reps x pairs] array), after `warmup` pairs each; the methods
    take turns pair by pair, so that a change in the shared machine's load hits them all alike."""
    for fn in fns.values():
        for p in pairs[:warmup]:
            fn(p[1], p[2])
    ts = {m: [] for m in fns}
    for _ in range(reps):
        for p in pairs:
            for m, fn in fns.items():
                t = time.perf_counter()
                fn(p[1], p[2])
                ts[m].append(time.perf_counter() - t)
    return {m: np.array(v) * 1000 for m, v in ts.items()}


def time_methods(fns: dict, pairs, reps=3) -> dict:
    """Median ms per pair of each method, timed in turns (`turn_times`)."""
    return {m: round(float(np.median(v)), 3) for m, v in turn_times(fns, pairs, reps).items()}


def pair_errors(fn, pairs) -> dict:
    """Per pair of `pairs` (as `flow.held_out_pairs`), the EPE of `fn(a, b)`: over all pixels
    ("all"); over the local-motion pixels (>= `LOCAL_PX`) of pairs that have some ("local", and
    in "bins" by the pair's peak local motion); over the whole crop of pairs with none ("still")."""
    rows = {"all": [], "local": [], "bins": {"0.2-1": [], "1-2": [], "2-4": []}, "still": []}
    for _, pa, pb, flow, local in pairs:
        mag = np.sqrt((local ** 2).sum(0))
        mask = mag >= LOCAL_PX
        peak = mag.max()
        pred = fn(pa, pb)
        rows["all"].append(epe(pred, flow))
        if mask.any():
            e = epe(pred, flow, mask)
            rows["local"].append(e)
            rows["bins"]["0.2-1" if peak < 1 else "1-2" if peak < 2 else "2-4"].append(e)
        elif peak == 0:
            rows["still"].append(epe(pred, flow))
    return rows


def main(argv=None):
    import cv2

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--model", action="append", default=None,
                    help="an ONNX flow model (repeatable; default ../flow.onnx)")
    ap.add_argument("--label", action="append", default=None,
                    help="the table's name for each --model, in order (default: ours, or the file names)")
    ap.add_argument("--pairs", type=int, default=None, help="default 400 held-out, 200 validation")
    ap.add_argument("--set", default="held-out", choices=["held-out", "validation"],
                    help="validation: pairs from training faces (flow.validation_pairs), for choosing a recipe")
    ap.add_argument("--refine", action="store_true",
                    help="also each model followed by OpenCV's variational refinement (rows '<label>-vr', as --flow onnx-vr)")
    ap.add_argument("--timing-pairs", type=int, default=60)
    ap.add_argument("--out", default=None, help="default reports/flow_eval.json (validation: flow_eval_validation.json)")
    a = ap.parse_args(argv)
    validation = a.set == "validation"
    a.out = a.out or str(REPORTS / ("flow_eval_validation.json" if validation else "flow_eval.json"))

    models = a.model or [str(MODELS_DIR / "flow.onnx")]
    labels = a.label or (["ours"] if len(models) == 1 else [os.path.basename(m) for m in models])
    if len(labels) != len(models) or len(set(labels)) != len(labels) or set(labels) & set(CLASSICAL):
        raise SystemExit("give one distinct --label per --model (not a classical method's name)")
    ours = dict(zip(labels, models))
    refined = [f"{k}-vr" for k in labels] if a.refine else []
    METHODS = labels + refined + CLASSICAL
    pool = build_pool(a.data)
    pairs = validation_pairs(pool, a.pairs or 200) if validation else held_out_pairs(pool, a.pairs or 400)
    cv2.setNumThreads(1)
    classical = Classical()
    fns = {k: (lambda x, y, s=ort_session(m, 1): run_ours(s, x, y)) for k, m in ours.items()}
    fns.update({m: (lambda x, y, m=m: classical.run(m, x, y)) for m in CLASSICAL})
    fns.update({f"{k}-vr": (lambda x, y, k=k: classical.refine(x, y, fns[k](x, y))) for k in (ours if a.refine else [])})

    rows = {m: pair_errors(fns[m], pairs) for m in METHODS}
    timing = {}
    tp = pairs[:a.timing_pairs]
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        fns_t = {k: (lambda x, y, s=ort_session(m, threads, one_at_a_time=True): run_ours(s, x, y)) for k, m in ours.items()}
        fns_t.update({f"{k}-vr": (lambda x, y, k=k: classical.refine(x, y, fns_t[k](x, y))) for k in (ours if a.refine else [])})
        fns_t.update({m: fns[m] for m in CLASSICAL})
        timing[threads] = time_methods(fns_t, tp)
    mean = lambda v: round(float(np.mean(v)), 4) if v else None  # noqa: E731
    report = {
        "set": a.set, "pairs": len(pairs), "held_out_faces": int(pool.held_out.sum()),
        "pairs_with_local_motion": len(rows["dis"]["local"]), "still_face_pairs": len(rows["dis"]["still"]),
        "bin_counts": {k: len(v) for k, v in rows["dis"]["bins"].items()},
        "models": {k: os.path.relpath(os.path.abspath(m), MODELS_DIR) for k, m in ours.items()},
        "load_average": os.getloadavg()[0],
        "methods": {m: {"epe_all": mean(r["all"]), "epe_local": mean(r["local"]),
                        "epe_by_local_peak": {k: mean(v) for k, v in r["bins"].items()}, "epe_still_face": mean(r["still"]),
                        "ms_per_pair_1_thread": timing[1][m], "ms_per_pair_2_threads": timing[2][m]}
                    for m, r in rows.items()},
    }
    table = format_table(report)
    print(table)
    out = os.path.abspath(a.out)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    with open(out.replace(".json", "_table.txt"), "w") as f:
        f.write(table + "\n")
    return 0


def format_table(report) -> str:
    bins = list(report["bin_counts"])
    head = ["method", "EPE all", "EPE local"] + [f"local {b} px" for b in bins] + ["still face", "ms 1 thr", "ms 2 thr"]
    lines = [f"{report.get('set', 'held-out')} pairs: {report['pairs']} ({report['pairs_with_local_motion']} with local motion, "
             f"{report['still_face_pairs']} still faces; by local peak {report['bin_counts']}); EPE in crop px",
             " | ".join(head)]
    for m, r in report["methods"].items():
        cells = [LABELS.get(m, m), r["epe_all"], r["epe_local"]] + [r["epe_by_local_peak"][b] for b in bins]
        cells += [r["epe_still_face"], r["ms_per_pair_1_thread"], r["ms_per_pair_2_threads"]]
        lines.append(" | ".join(str(c) for c in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
