"""`python -m glimpse_train flow-eval [--model ../flow.onnx] [--pairs 400]`: end-point error and
time per pair of the flow model and of OpenCV's DIS (the pipeline's settings), Farneback and
Dual TV-L1 on the same fixed held-out pairs (`flow.held_out_pairs`: faces of people never
trained on, each pair seeded by its index). Prints a table, writes reports/flow_eval.json and
reports/flow_eval_table.txt.

EPE columns: *all* = every pixel of the 128 x 128 crop; *local* = the pixels whose local
(expression) motion is at least 0.2 px, the micro-expression motion itself; by the pair's local
peak (0.2-1, 1-2, 2-4 px); *still face* = pairs with head motion only, no local motion (what a
method invents on a neutral face). Time: median ms per pair on a 128 x 128 pair, with 1 and 2
threads (ORT intra-op threads; cv2.setNumThreads), on the shared machine under its current load.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from .export import MODELS_DIR, ort_session
from .flow import Classical, build_pool, epe, held_out_pairs
from .loso import REPORTS

METHODS = ["ours", "dis", "farneback", "tvl1"]
LABELS = {"ours": "flow.onnx (ours)", "dis": "DIS (pipeline settings)", "farneback": "Farneback",
          "tvl1": "Dual TV-L1"}


def run_ours(sess, a, b):
    out = sess.run(["flow"], {"previous": a[None, None], "current": b[None, None]})[0]
    return out[0]


def time_method(fn, pairs, reps=3) -> float:
    for p in pairs[:5]:
        fn(p[1], p[2])
    ts = []
    for _ in range(reps):
        for p in pairs:
            t = time.perf_counter()
            fn(p[1], p[2])
            ts.append(time.perf_counter() - t)
    return round(float(np.median(ts)) * 1000, 3)


def main(argv=None):
    import cv2

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--model", default=str(MODELS_DIR / "flow.onnx"))
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--timing-pairs", type=int, default=60)
    ap.add_argument("--out", default=str(REPORTS / "flow_eval.json"))
    a = ap.parse_args(argv)

    pool = build_pool(a.data)
    pairs = held_out_pairs(pool, a.pairs)
    cv2.setNumThreads(1)
    sess1 = ort_session(a.model, 1)
    classical = Classical()
    fns = {"ours": lambda x, y: run_ours(sess1, x, y)}
    fns.update({m: (lambda x, y, m=m: classical.run(m, x, y)) for m in METHODS[1:]})

    rows = {m: {"all": [], "local": [], "bins": {"0.2-1": [], "1-2": [], "2-4": []}, "still": []} for m in METHODS}
    for _, pa, pb, flow, local in pairs:
        mag = np.sqrt((local ** 2).sum(0))
        mask = mag >= 0.2
        peak = mag.max()
        for m in METHODS:
            pred = fns[m](pa, pb)
            r = rows[m]
            r["all"].append(epe(pred, flow))
            if mask.any():
                e = epe(pred, flow, mask)
                r["local"].append(e)
                key = "0.2-1" if peak < 1 else "1-2" if peak < 2 else "2-4"
                r["bins"][key].append(e)
            elif peak == 0:
                r["still"].append(epe(pred, flow))
    timing = {}
    tp = pairs[:a.timing_pairs]
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        sess = ort_session(a.model, threads)
        timing[threads] = {"ours": time_method(lambda x, y: run_ours(sess, x, y), tp)}
        timing[threads].update({m: time_method(fns[m], tp) for m in METHODS[1:]})
    mean = lambda v: round(float(np.mean(v)), 4) if v else None  # noqa: E731
    report = {
        "pairs": len(pairs), "held_out_faces": int(pool.held_out.sum()),
        "pairs_with_local_motion": len(rows["ours"]["local"]), "still_face_pairs": len(rows["ours"]["still"]),
        "bin_counts": {k: len(v) for k, v in rows["ours"]["bins"].items()},
        "model": os.path.relpath(a.model, MODELS_DIR), "load_average": os.getloadavg()[0],
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
    lines = [f"held-out pairs: {report['pairs']} ({report['pairs_with_local_motion']} with local motion, "
             f"{report['still_face_pairs']} still faces; by local peak {report['bin_counts']}); EPE in crop px",
             " | ".join(head)]
    for m, r in report["methods"].items():
        cells = [LABELS[m], r["epe_all"], r["epe_local"]] + [r["epe_by_local_peak"][b] for b in bins]
        cells += [r["epe_still_face"], r["ms_per_pair_1_thread"], r["ms_per_pair_2_threads"]]
        lines.append(" | ".join(str(c) for c in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
