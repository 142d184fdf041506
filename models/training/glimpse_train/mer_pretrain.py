"""Pretrain F5CNet on the synthetic micro-expression motion (`mer_synth`), the starting
weights of recipe `f5cnet_v4` (reports/mer_v4_preregistration.md):
`python -m glimpse_train mer-pretrain` -> cache/mer_pretrained.pt, reports/mer_pretrain.json;
`--zero-shot` scores those weights, as they are, on all 442 MEGC samples (a network that has
seen no MEGC sample: every prediction is subject-independent) -> reports/mer_zero_shot.json.

The recipe is fixed in advance: the `f5cnet` training loop (AdamW, one-cycle, label smoothing
0.1, mirror and 2-px shifts) for 30 epochs at batch 64 on 90 % of the synthetic events, seed 0,
1 torch thread. The other 10 % only show that the synthetic classes are learnable. No MEGC
sample is used here.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import mer_synth
from .landmarks import CACHE
from .loso import REPORTS

PRETRAINED = CACHE / "mer_pretrained.pt"
PRETRAIN_RECIPE = dict(arch="f5cnet", epochs=30, lr=2e-3, weight_decay=5e-4, batch=64, label_smoothing=0.1,
                       flip=True, shift=2, members=1)
PRETRAIN_SEED = 0
CHECK_SHARE = 0.1


def split(n: int, seed: int = PRETRAIN_SEED):
    """Training and check indices of the synthetic set (a fixed permutation)."""
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * CHECK_SHARE))
    return np.sort(perm[k:]), np.sort(perm[:k])


def pretrain(synth: Path = mer_synth.OUT, out: Path = PRETRAINED) -> dict:
    import torch

    from .train import predict_logits, train_network

    torch.set_num_threads(1)
    x, y = mer_synth.load(synth)
    tr, check = split(len(y))
    t0 = time.time()
    log: dict = {}
    model = train_network(PRETRAIN_RECIPE, x[tr], y[tr], PRETRAIN_SEED, log)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    acc = lambda idx: float((predict_logits(model, x[idx]).argmax(1) == y[idx]).mean())  # noqa: E731
    info = {"recipe": PRETRAIN_RECIPE, "seed": PRETRAIN_SEED, "events": int(len(y)), "train_events": int(len(tr)),
            "train_acc": round(acc(tr), 4), "check_acc": round(acc(check), 4),
            "final_train_loss": log["final_train_loss"], "seconds": round(time.time() - t0, 1), "weights": out.name}
    (REPORTS / "mer_pretrain.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))
    return info


def pretrained_weights(path: Path | None = None) -> Path:
    """The pretrained weights (`PRETRAINED` unless `path`), built first (synthetic set, then
    pretraining: about 10 min on 2 cores) when they are not in the cache."""
    path = path or PRETRAINED
    if not path.is_file():
        print(f"{path} missing: building the synthetic set and pretraining first", flush=True)
        if not mer_synth.OUT.is_file():
            mer_synth.build()
        pretrain(out=path)
    return path


def zero_shot(weights: Path, shared=None) -> dict:
    import torch

    from .data import load_megc
    from .metrics import summary
    from .models import build
    from .report import format_metrics
    from .train import predict_logits

    torch.set_num_threads(1)
    data = load_megc(shared)
    model = build(PRETRAIN_RECIPE["arch"])
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    pred = predict_logits(model, data.x).argmax(1)
    metrics = summary(data.y, pred, data.dataset)
    info = {"weights": weights.name, "samples": int(len(pred)), "metrics": metrics}
    (REPORTS / "mer_zero_shot.json").write_text(json.dumps(info, indent=1))
    print(format_metrics(metrics))
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", default=str(mer_synth.OUT))
    ap.add_argument("--out", default=str(PRETRAINED))
    ap.add_argument("--zero-shot", action="store_true", help="score the pretrained weights on the 442 MEGC samples")
    ap.add_argument("--data", default=None, help="shared root for --zero-shot (default $GLIMPSE_SHARED or ../shared)")
    a = ap.parse_args(argv)
    if a.zero_shot:
        zero_shot(pretrained_weights(Path(a.out)), a.data)
    else:
        pretrain(Path(a.synth), Path(a.out))


if __name__ == "__main__":
    main()
