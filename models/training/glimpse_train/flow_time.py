"""`python -m glimpse_train flow-time [--model ../flow.onnx --label v3 ...] [--runs 400]`: the
flow model(s) alone through onnxruntime, no data needed: the golden pair (`flow_export.golden_pair`),
on 1 and on 2 intra-op threads, loaded as the pipeline loads them (the batch fixed to one pair),
the models taking turns run by run so that load shifts hit them alike (one `--model` alone gives
its own time: in turns each model runs about a third slower, `models/flow.md`, *Speed*). Prints
the median, p10 and p90 ms per 128x128 pair and the load average before and after (`flow-eval`
times the models inside its evaluation loop, about 1.25x slower than this).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from .export import MODELS_DIR, ort_session
from .flow_eval import run_ours, turn_times
from .flow_export import golden_pair

WARMUP = 50


def time_models(paths: list, threads: int, runs: int) -> list[np.ndarray]:
    """ms per run of each model on the golden pair, measured in turns (`flow_eval.turn_times`)."""
    previous, current = golden_pair()
    fns = {i: (lambda a, b, s=ort_session(p, threads, one_at_a_time=True): run_ours(s, a, b)) for i, p in enumerate(paths)}
    times = turn_times(fns, [(None, previous[0, 0], current[0, 0])] * runs, reps=1, warmup=WARMUP)
    return [times[i] for i in range(len(paths))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", action="append", default=None, help="default ../flow.onnx")
    ap.add_argument("--label", action="append", default=None)
    ap.add_argument("--runs", type=int, default=400)
    a = ap.parse_args(argv)
    models = a.model or [str(MODELS_DIR / "flow.onnx")]
    labels = a.label or [os.path.basename(m) for m in models]
    if len(labels) != len(models):
        ap.error("give one --label per --model")
    load_before = os.getloadavg()[0]
    rows = []
    for threads in (1, 2):
        for label, ts in zip(labels, time_models(models, threads, a.runs)):
            rows.append({"model": label, "threads": threads, "median_ms": round(float(np.median(ts)), 3),
                         "p10_ms": round(float(np.percentile(ts, 10)), 3),
                         "p90_ms": round(float(np.percentile(ts, 90)), 3), "runs": a.runs})
    print(json.dumps({"load_average_before": load_before, "load_average_after": os.getloadavg()[0],
                      "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    main()
