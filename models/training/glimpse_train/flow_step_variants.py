"""`python -m glimpse_train flow-step-variants [--arch v12] [--pairs DIR]`: a diagnostic (session
16), not a model: the trained network with its second full-resolution Lucas-Kanade step changed
(`full_more.0`), without any training, scored on the validation faces' pairs, degraded (as the
decision rules use them) and clean (as the 30 % of training pairs without webcam degradation),
and on development synthetic pairs (`glimpse eval flow --first-seed 101 --save-pairs DIR`).
The variants: as trained; that step with the first full-resolution step's window (its centre
taps); with the first step's damping (Tikhonov term); with both.

Why: v11's broken first runs (`reports/flow_v11_preregistration.md`) had both, and a much lower
synthetic local error with a higher error elsewhere. This measures which change does what.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from .export import ort_session
from .flow import ARCHS, build_model, build_pool, validation_pairs
from .flow_eval import pair_errors, run_ours
from .flow_train import checkpoint_name, copy_window, recipe_seed
from .landmarks import CACHE

VARIANTS = ("as trained", "first step's window", "first step's damping", "both")


def variant(model, name: str):
    """`model` with its second full-resolution step changed as `name` says (in place)."""
    import torch

    step, first = model.full_more[0], model.full
    with torch.no_grad():
        if name in ("first step's window", "both"):
            copy_window(step, first)
        if name in ("first step's damping", "both"):
            step.log_lam.copy_(first.log_lam)
    return model


def pair_scores(path, pairs) -> tuple[float, float]:
    """Mean EPE over all pixels and over the local-motion pixels, as flow-eval's."""
    session = ort_session(str(path), 1)
    rows = pair_errors(lambda a, b: run_ours(session, a, b), pairs)
    return float(np.mean(rows["all"])), float(np.mean(rows["local"]))


MOTION_BINS = ((0.2, 0.5), (0.5, 1.0), (1.0, 3.0))   # expression motion, crop px


def by_motion(flow: np.ndarray, pairs: dict) -> list[float]:
    """EPE pooled over the micro pairs' pixels in each bin of expression motion (`MOTION_BINS`)."""
    e = np.sqrt(((flow - pairs["truth"]) ** 2).sum(1))
    micro = pairs["micro"][:, None, None] & ~np.isnan(e)
    return [float(e[micro & (pairs["local"] >= lo) & (pairs["local"] < hi)].mean()) for lo, hi in MOTION_BINS]


def main(argv=None):
    import torch

    from .flow_export import export_flow
    from .flow_synth_eval import load_pairs, run_model, scores

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="v12", choices=[a for a in ARCHS if a not in ("v1", "v2", "v3")],
                    help="a network with two full-resolution steps (v4 and later; default v12, the network the "
                         "diagnostic was written for: in the gated v13-v16 it changes only the narrow solution)")
    ap.add_argument("--weights", default=None, help="default: cache/<the arch's checkpoint>.pt")
    ap.add_argument("--pairs", default=None, help="development synthetic pairs (`glimpse eval flow --save-pairs`)")
    ap.add_argument("--validation-pairs", type=int, default=150)
    ap.add_argument("--data", default=None)
    a = ap.parse_args(argv)
    weights = a.weights or str(CACHE / f"{checkpoint_name(a.arch, recipe_seed(a.arch))}.pt")
    state = torch.load(weights, map_location="cpu")
    pool = build_pool(a.data)
    sets = {"degraded": validation_pairs(pool, a.validation_pairs),
            "clean": validation_pairs(pool, a.validation_pairs, degraded=False)}
    dev = load_pairs(a.pairs) if a.pairs else None
    print(f"{a.arch} ({weights}); validation faces, {a.validation_pairs} pairs each; EPE in crop px")
    print("second full-resolution step | degraded all | degraded local | clean all | clean local"
          + (" | dev synthetic all | dev local | dev neutral | dev local " + " | ".join(f"{lo}-{hi} px" for lo, hi in MOTION_BINS)
             if dev else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANTS:
            model = build_model(a.arch)
            model.load_state_dict(state)
            path = Path(tmp) / "variant.onnx"
            export_flow(variant(model, name), str(path))
            cells = [f"{v:.4f}" for key in sets for v in pair_scores(path, sets[key])]
            if dev:
                flow = run_model(path, dev["x"])
                s = scores(flow, dev)
                cells += [f"{s['epe_all']:.4f}", f"{s['epe_local']:.4f}", f"{s['epe_neutral']:.4f}"]
                cells += [f"{v:.4f}" for v in by_motion(flow, dev)]
            print(f"{name} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    main()
