"""Train the final model on all 442 samples with the fixed recipe and export it:
`python -m glimpse_train.export [--recipe mer_v6] [--seed 0]`.

Writes models/mer.onnx (input `motion` [N,3,28,28] float32, raw 0..255, channels strain, v, u;
output `logits` [N,3] negative, positive, surprise), models/mer.golden.json (fixed formula inputs
and the onnxruntime outputs) and reports/export.json (parameter count, timing on 1 CPU thread).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from . import CLASSES
from .loso import REPORTS

MODELS_DIR = Path(__file__).resolve().parents[2]
OPSET = 17


def golden_inputs() -> np.ndarray:
    """3 deterministic inputs [3,3,28,28] from a formula, rounded to 3 decimals:
    x[n,c,h,w] = round(127.5 + 127.5 * sin(0.37*(n+1)*h + 0.23*(c+1)*w + 0.5*c + n), 3)."""
    n, c, h, w = np.meshgrid(np.arange(3), np.arange(3), np.arange(28), np.arange(28), indexing="ij")
    x = 127.5 + 127.5 * np.sin(0.37 * (n + 1) * h + 0.23 * (c + 1) * w + 0.5 * c + n)
    return np.round(x, 3).astype(np.float32)


def export_onnx(model, path: Path, opset: int = OPSET) -> None:
    import torch

    model.eval()
    dummy = torch.from_numpy(golden_inputs()[:1])
    kw = dict(input_names=["motion"], output_names=["logits"], opset_version=opset,
              dynamic_axes={"motion": {0: "N"}, "logits": {0: "N"}})
    try:
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, **kw)
    except TypeError:  # very old torch without the dynamo flag
        torch.onnx.export(model, (dummy,), str(path), **kw)


def ort_session(path: Path, threads: int = 1, one_at_a_time: bool = False):
    """`one_at_a_time`: the batch dimension `N` fixed to 1, as the Rust side loads flow.onnx
    (`Contract::one_at_a_time`): ONNX Runtime then folds the graph's shape arithmetic away."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if one_at_a_time:
        so.add_free_dimension_override_by_name("N", 1)
    # Idle pool threads otherwise spin for work after each run; where several sessions take
    # turns (flow-time, flow-eval), one session's spinning threads take the 2-core machine
    # from the next one's run (session 17: v12 alone 3.3 ms on 2 threads, 7.3 ms with another
    # 2-thread session beside it; the same with spinning off: 3.3 ms)
    if threads > 1:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def export_checked(model, weights: str, export, out: Path, feeds: dict, output_name: str):
    """Loads `weights` into `model`, exports it to `out` with `export(model, out)` and runs both
    on `feeds` (input name -> array, in the network's argument order). Returns the onnxruntime
    session, its output and the largest difference from torch, which must be under 1e-3."""
    import torch

    model.load_state_dict(torch.load(weights, map_location="cpu"))
    export(model, out)
    with torch.no_grad():
        ref = model.eval()(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    sess = ort_session(out)
    got = sess.run([output_name], feeds)[0]
    diff = float(np.abs(got - ref).max())
    assert diff < 1e-3, f"onnxruntime differs from torch by {diff}"
    return sess, got, diff


def write_golden(model, out: Path, golden: dict, **summary) -> None:
    """Writes `<out stem>.golden.json`: the model file's name and sha256, then `golden`; prints
    a summary with `summary` added."""
    golden = {"model": out.name, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), **golden}
    out.with_name(out.stem + ".golden.json").write_text(json.dumps(golden))
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"onnx": str(out), "bytes": out.stat().st_size, "params": n_params,
                      "torch_vs_ort": golden["max_abs_diff_torch_vs_onnxruntime"], **summary,
                      "sha256": golden["sha256"]}, indent=1))


def time_per_event(sess, reps: int = 500) -> dict:
    x = golden_inputs()[:1]
    for _ in range(20):
        sess.run(["logits"], {"motion": x})
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        sess.run(["logits"], {"motion": x})
        ts.append(time.perf_counter() - t)
    ts = np.array(ts) * 1000
    return {"median_ms": float(np.median(ts)), "p90_ms": float(np.percentile(ts, 90)), "reps": reps,
            "threads": 1, "batch": 1}


def main(argv=None):
    import torch

    from .data import load_megc
    from .models import n_params
    from .train import RECIPES, train_model

    torch.set_num_threads(2)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipe", default="mer_v6", choices=list(RECIPES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=str(MODELS_DIR / "mer.onnx"))
    a = ap.parse_args(argv)

    data = load_megc(a.data)
    t0 = time.time()
    model = train_model(a.recipe, data.x, data.y, seed=a.seed)
    train_s = time.time() - t0
    out = Path(a.out)
    export_onnx(model, out)

    x = golden_inputs()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    sess = ort_session(out)
    got = sess.run(["logits"], {"motion": x})[0]
    diff = float(np.abs(got - ref).max())
    assert diff < 1e-3, f"onnxruntime differs from torch by {diff}"
    golden = {
        "model": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "input_name": "motion", "output_name": "logits", "classes": list(CLASSES),
        "input_formula": "x[n,c,h,w] = round(127.5 + 127.5*sin(0.37*(n+1)*h + 0.23*(c+1)*w + 0.5*c + n), 3), "
                         "n,c,h,w from 0; float32",
        "input_shape": list(x.shape),
        "inputs": np.round(x.astype(np.float64), 3).tolist(),
        "logits": got.astype(np.float64).tolist(),
        "argmax": got.argmax(1).tolist(),
        "tolerance": 1e-4,
        "max_abs_diff_torch_vs_onnxruntime": diff,
    }
    gpath = out.with_name(out.stem + ".golden.json")
    gpath.write_text(json.dumps(golden))
    timing = time_per_event(sess)
    info = {"recipe_name": a.recipe, "seed": a.seed, "recipe": RECIPES[a.recipe], "params": n_params(model),
            "train_seconds": round(train_s, 1), "onnx_bytes": out.stat().st_size, "opset": OPSET,
            "train_acc_all442": float((model(torch.from_numpy(data.x)).argmax(1).numpy() == data.y).mean()),
            "onnxruntime_1thread": timing, "torch_vs_ort_max_abs_diff": diff}
    (REPORTS / "export.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
