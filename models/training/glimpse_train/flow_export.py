"""`python -m glimpse_train flow-export [--arch v6] [--weights cache/flow_v6_s11.pt] [--out ../flow.onnx]`:
export the trained flow model to models/flow.onnx and write models/flow.golden.json (beside --out): a pair of crops from a formula
(integers 0..255, stored; see `golden_pair`) and the onnxruntime flow on a 4-px grid (every
4th row and column, both channels; tolerance 1e-3 px), with the model's sha256.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .export import MODELS_DIR, OPSET, export_checked, write_golden
from .flow import ARCH, ARCHS, SIZE, build_model
from .flow_train import checkpoint_name, recipe_seed
from .landmarks import CACHE

GRID = 4   # golden outputs at every GRID-th pixel


def golden_pair() -> tuple[np.ndarray, np.ndarray]:
    """previous = round(p(x, y)), current = round(p(x - 1.2 - g, y + 0.5 - g)) with
    p = 127.5 + 80 sin(0.19 y + 0.11 x) cos(0.07 x - 0.05 y) + 30 sin(0.31 x + 0.23 y), and a
    Gaussian bump g = 1.5 exp(-((x - 80)^2 + (y - 50)^2) / 200): the texture moves 1.2 px right,
    0.5 px up, and a further 1.5 px down-right around (80, 50). Each [1,1,128,128] float32."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)

    def p(x, y):
        return 127.5 + 80 * np.sin(0.19 * y + 0.11 * x) * np.cos(0.07 * x - 0.05 * y) + 30 * np.sin(0.31 * x + 0.23 * y)

    g = 1.5 * np.exp(-((x - 80) ** 2 + (y - 50) ** 2) / 200)
    prev = np.round(p(x, y))
    cur = np.round(p(x - 1.2 - g, y + 0.5 - g))
    return prev.astype(np.float32)[None, None], cur.astype(np.float32)[None, None]


def export_flow(model, path: Path) -> None:
    import torch

    model.eval()
    steps = [m for m in model.modules() if hasattr(m, "freeze_windows")]   # v3, v4: windows as MatMuls
    for step in steps:   # (a gated step's wide window is frozen with it and again on its own: the same)
        step.freeze_windows()
    a, b = (torch.from_numpy(v) for v in golden_pair())
    try:
        torch.onnx.export(model, (a, b), str(path), dynamo=False, input_names=["previous", "current"],
                          output_names=["flow"], opset_version=OPSET,
                          dynamic_axes={"previous": {0: "N"}, "current": {0: "N"}, "flow": {0: "N"}})
    finally:   # the model in memory goes back to its convolutions (its weights may change again)
        for step in steps:
            step.unfreeze_windows()
    # The exporter leaves the output's spatial dims symbolic; write the contract's static shape.
    import onnx

    m = onnx.load(str(path))
    dims = m.graph.output[0].type.tensor_type.shape.dim
    for d, v in zip(dims[1:], (2, SIZE, SIZE)):
        d.Clear()
        d.dim_value = v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def main(argv=None):
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default=ARCH, choices=ARCHS)
    ap.add_argument("--weights", default=None, help="default cache/<the arch's checkpoint, its recipe's seed>.pt")
    ap.add_argument("--out", default=str(MODELS_DIR / "flow.onnx"))
    a = ap.parse_args(argv)
    a.weights = a.weights or str(CACHE / f"{checkpoint_name(a.arch, recipe_seed(a.arch))}.pt")
    model = build_model(a.arch)
    out = Path(a.out)
    prev, cur = golden_pair()
    _, got, diff = export_checked(model, a.weights, export_flow, out, {"previous": prev, "current": cur}, "flow")
    grid = got[0, :, ::GRID, ::GRID]
    mean_flow = [float(got[0, 0].mean()), float(got[0, 1].mean())]
    write_golden(model, out, {
        "arch": a.arch, "input_names": ["previous", "current"], "output_name": "flow",
        "input_formula": golden_pair.__doc__, "input_shape": list(prev.shape),
        "previous": prev[0, 0].astype(int).tolist(), "current": cur[0, 0].astype(int).tolist(),
        "grid_step": GRID, "flow_grid": np.round(grid.astype(np.float64), 6).tolist(), "tolerance": 1e-3,
        "mean_flow": mean_flow,
        "max_abs_diff_torch_vs_onnxruntime": diff,
    }, mean_flow=mean_flow)
    return 0


if __name__ == "__main__":
    main()
