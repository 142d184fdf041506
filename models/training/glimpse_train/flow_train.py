"""`python -m glimpse_train flow-train [--arch v6] [--seed S] [--steps N]`: train the flow model with
its architecture's one fixed recipe (`RECIPES`) and save cache/flow_{arch}_s{seed}.pt (v1, the first
model: cache/flow_s{seed}.pt) and reports/flow_train_{arch}_s{seed}.json (v1: flow_train_s{seed}.json).

Data (read from ../shared, nothing copied): LFW (aligned by its Haar box, as the pipeline's
default) and 300-W afw + helen (aligned on their labels), minus the held-out faces (LFW people
with crc32(name) % 10 == 0, and 300-W helen_test). Every sample is a fresh pair from
`flow.make_pair`. Loss: the mean end-point error over the crop (v2: plus 0.5 x that of the
coarse stride-4 estimate, upsampled; v3: each term plus 1.0 x the mean EPE over the pixels with
local motion, and 0.5 x the mean of that over its four intermediate estimates). AdamW lr 2e-3,
wd 1e-4, one-cycle (5 % warm-up, cosine), batch 16; v1 2,500 steps, v2 5,000 steps and v3 4,000
steps (seed 5) with the gradient norm clipped at 5; v4 as v3 with 30 % of the pairs undegraded;
v6 (seed 11) as v4 with bumps on the forehead too; v7, v7c, v8 and v8s (sessions 12, 14) v6's
recipe; v9 plus vertical brow bumps; v10 (session 15) v8s's network and recipe for 8,000 steps;
v11 and v11c (session 16) continue v10's training (`init_from`), v11 with brow actions; v12
continues v11's with blinks; v13 (session 17) continues v12's with a gated second full-resolution
step, v14 v13's with a noise-aware gate (the shipped one since session 19, the default `--arch`), v15
v14's with small head motions in half of the pairs.
`--blink-fraction` closes both upper eyelids in a share of the pairs (the covered eye is left out
of the loss). The last step is kept (no selection on held-out data).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .flow import ARCH, ARCHS, SIGMA_PX, build_model, build_pool, make_pair
from .landmarks import CACHE
from .loso import REPORTS

# One fixed recipe per architecture, decided before training; `coarse_weight` weighs the EPE of
# the coarse estimate (v2 only) beside the final one's, `clip` the gradient norm (v2 only).
STEPS_V2 = 5000
RECIPES = {
    "v1": {"steps": 2500, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05},
    "v2": {"steps": STEPS_V2, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05, "coarse_weight": 0.5, "clip": 5.0},
    # v3: the coarse weight applies to the mean over its four intermediate estimates; the local
    # weight adds the mean EPE over the pixels with >= 0.2 px of expression motion
    "v3": {"steps": 4000, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05, "coarse_weight": 0.5, "clip": 5.0,
           "local_weight": 1.0, "seed": 5},
    # v4: v3's recipe, plus 30 % of the pairs without webcam degradation (the synthetic
    # sequences are far cleaner than the degraded pairs v3 was fitted to)
    "v4": {"steps": 4000, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05, "coarse_weight": 0.5, "clip": 5.0,
           "local_weight": 1.0, "clean_fraction": 0.3, "seed": 5},
    # v6 (shipped): v4's recipe, plus bumps on the forehead (session 9's error maps: v4 loses to
    # DIS on the smooth forehead above the brows). Candidate B of reports/flow_v6_preregistration.md;
    # candidate A added `--blink-fraction 0.15` and failed its validation rule.
    "v6": {"steps": 4000, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05, "coarse_weight": 0.5, "clip": 5.0,
           "local_weight": 1.0, "clean_fraction": 0.3, "forehead": True, "seed": 11},
}
# v7, v7c: v6's recipe unchanged; only the network differs (reports/flow_v7_preregistration.md)
RECIPES["v7"] = dict(RECIPES["v6"])
RECIPES["v7c"] = dict(RECIPES["v6"])
# v8, v8s (session 14): v6's recipe unchanged (reports/flow_v8_preregistration.md)
RECIPES["v8"] = dict(RECIPES["v6"])
RECIPES["v8s"] = dict(RECIPES["v6"])
# v9 (session 14): v8s's network and recipe, half of the brow and forehead bumps moving up or down
# as brow actions do (reports/flow_v9_preregistration.md)
RECIPES["v9"] = dict(RECIPES["v6"], vertical_brows=0.5)
# v10 (session 15): v8s's network and recipe trained twice as long (reports/flow_v10_preregistration.md)
RECIPES["v10"] = dict(RECIPES["v6"], steps=8000)
# v11, v11c (session 16): v10 trained 2,000 steps more at a quarter of the rate on fresh pairs
# (seed 12); v11 with half of the brow and forehead bumps moving as brow actions (AU4 pulls the
# brows down and together), v11c the control without (reports/flow_v11_preregistration.md)
RECIPES["v11c"] = dict(RECIPES["v6"], steps=2000, lr=5e-4, seed=12, init_from="v10")
RECIPES["v11"] = dict(RECIPES["v11c"], brow_actions=0.5)
# v12 (session 16): v11 trained 2,000 steps more with 20 % blink pairs (seed 13), against the
# blink's spill into the brows that the spotter takes for a brow action (reports/flow_v12_preregistration.md)
RECIPES["v12"] = dict(RECIPES["v11"], seed=13, init_from="v11", blink_fraction=0.2)
# v13 (session 17): v12's network with its second full-resolution step gated between its own
# solution and a wide, lightly damped one (`flow.GatedLucasKanadeStep`), trained on from v12's
# weights for 2,000 steps on v12's recipe with fresh pairs (seed 14; reports/flow_v13_preregistration.md)
RECIPES["v13"] = dict(RECIPES["v12"], seed=14, init_from="v12")
# v14 (session 17): v13's network whose gate also reads the crop's noise (its mean residual),
# trained on from v13's weights for 2,000 steps more, seed 15 (reports/flow_v14_preregistration.md)
RECIPES["v14"] = dict(RECIPES["v13"], seed=15, init_from="v13")
# v15 (session 17): v14 trained on for 2,000 steps (seed 16) with half of the pairs' head motion
# scaled to 0.15 of the usual (`flow.SMALL_HEAD_SCALE`), as between live frames 100 ms apart
# (reports/flow_v15_preregistration.md)
RECIPES["v15"] = dict(RECIPES["v14"], seed=16, init_from="v14", small_head=0.5)
# v16 (session 18): v14's network with the gate read from the explained energy and the residual;
# only the gate's 3 parameters train, from v14's weights, 600 steps at a peak rate of 1e-2 without
# weight decay, half the pairs clean with small head motion (seed 17; reports/flow_v16_preregistration.md)
RECIPES["v16"] = dict(RECIPES["v14"], seed=17, init_from="v14", steps=600, lr=1e-2, wd=0.0, train_only="gate_",
                      micro_fraction=0.5)
LOCAL_PX = 0.2   # expression motion counted as local (as flow_eval's "local" pixels)


def recipe_seed(arch: str) -> int:
    """The seed an architecture's recipe trains with (v3, v4: 5; v6, v7, v7c: 11; the others 0)."""
    return RECIPES[arch].get("seed", 0)


def checkpoint_name(arch: str, seed: int) -> str:
    """cache/<name>.pt: flow_s{seed} for v1 (as shipped), flow_v2_s{seed} for v2."""
    return f"flow_s{seed}" if arch == "v1" else f"flow_{arch}_s{seed}"


def epe_loss(pred, truth, local=None, local_weight: float = 0.0, valid=None):
    """Mean EPE over the crop, plus `local_weight` x the mean over the `local` mask's pixels;
    with `valid` [N,H,W], only over its pixels (not those an eyelid covers)."""
    e = ((pred - truth) ** 2).sum(1).add(1e-6).sqrt()
    mean = e.mean() if valid is None else (e * valid).sum() / valid.sum().clamp(min=1)
    if local is None or not local_weight:
        return mean
    return mean + local_weight * (e * local).sum() / local.sum().clamp(min=1)


def load_init(model, state: dict) -> None:
    """Start `model` from `state`. v3 weights start v4 too: v4's extra full-resolution steps, which
    v3's weights lack, start as copies of v3's one (the centre taps of its window where theirs is
    narrower); so does v13's wide solution where v12's weights start it. Steps that `state` has
    keep its weights (session 16: v11's first runs, which continued v10, had its second step's
    window replaced by a copy of the first's)."""
    import torch

    # a gate of another kind (`state` has gate parameters the model lacks: v16 from v14's weights)
    # starts as its constructor sets it; a gate that only adds a term (v14 from v13) keeps the rest
    own = model.state_dict()
    if any(".gate_" in k and k not in own for k in state):
        state = {k: v for k, v in state.items() if ".gate_" not in k}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:   # a tensor of another shape
        raise ValueError(f"weights do not fit {type(model).__name__}: {e}") from e
    if unexpected or any(not k.startswith("full_more.") for k in missing):
        raise ValueError(f"weights do not fit {type(model).__name__}: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for i, step in enumerate(getattr(model, "full_more", [])):
            # v13's gated step continuing v12: its wide solution starts as the first step's
            for key, target in ((f"full_more.{i}", step), (f"full_more.{i}.wide", getattr(step, "wide", None))):
                if target is not None and f"{key}.wx" in missing:
                    target.log_lam.copy_(model.full.log_lam)
                    copy_window(target, model.full)


def copy_window(step, source) -> None:
    """Give a Lucas-Kanade step `source`'s window (its centre taps where `step`'s is narrower)."""
    import torch

    with torch.no_grad():
        for name in ("wx", "wy"):
            mine, theirs = getattr(step, name), getattr(source, name)
            n, m = max(mine.shape[2:]), max(theirs.shape[2:])
            cut = slice((m - n) // 2, (m - n) // 2 + n)
            mine.copy_(theirs[:, :, :, cut] if name == "wx" else theirs[:, :, cut, :])


def batch(pool, train_idx, rng, n, sigma_px=SIGMA_PX, clean_fraction=0.0, blink_fraction=0.0, forehead=False,
          vertical_brows=0.0, brow_actions=0.0, small_head=0.0, micro_fraction=0.0):
    """-> pairs [n,2,128,128], flows [n,2,128,128], local-motion masks [n,128,128] (float),
    valid masks [n,128,128] (float; 0 where an eyelid covers the eye, whose flow is then 0).
    A `clean_fraction` of the pairs skip the webcam degradation; a `blink_fraction` blink;
    `forehead`: bumps on the forehead too; `vertical_brows`: that share of the brow and forehead
    bumps move vertically; `brow_actions`: that share move as raised or lowered brows;
    `small_head`: that share of the pairs with little head motion; `micro_fraction`: that share
    of the pairs instead clean and with little head motion, as between two webcam frames of a
    still face (v16). With 0 no random number is drawn for it."""
    xs, ys, local, valid = [], [], [], []
    for j in rng.choice(train_idx, n):
        micro = bool(micro_fraction) and rng.random() < micro_fraction
        degraded = not (micro or (clean_fraction and rng.random() < clean_fraction))
        a, b, flow, loc = make_pair(pool.images[j], pool.to_crop[j], rng, sigma_px=sigma_px, degraded=degraded,
                                    blink_fraction=blink_fraction, forehead=forehead, vertical_brows=vertical_brows,
                                    brow_actions=brow_actions, small_head=1.0 if micro else small_head)
        ok = np.isfinite(flow).all(0)
        xs.append(np.stack([a, b]))
        ys.append(np.where(ok, flow, 0.0))
        local.append(ok & (np.sqrt((np.nan_to_num(loc) ** 2).sum(0)) >= LOCAL_PX))
        valid.append(ok)
    return np.stack(xs), np.stack(ys).astype(np.float32), np.stack(local).astype(np.float32), np.stack(valid).astype(np.float32)


def trainable(model, only: str | None = None) -> list:
    """The parameters a recipe trains: all, or (`train_only`) those whose name contains `only`,
    the others frozen (v16: the gate alone)."""
    if only:
        for name, p in model.named_parameters():
            p.requires_grad_(only in name)
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(f"no parameter's name contains {only!r}")
    return [p for p in model.parameters() if p.requires_grad]


def update(model, opt, total, clip: float | None) -> bool:
    """One optimiser step on `total` (its gradient norm clipped at `clip`), unless the loss or the
    gradient norm is not finite: such a step would make every weight NaN (v10's first run, session
    15, after 2,200 steps at the peak rate), so it is skipped. -> whether it stepped. Runs that
    never meet one compute exactly as before."""
    import torch

    opt.zero_grad()
    total.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip else None
    if not torch.isfinite(total) or (norm is not None and not torch.isfinite(norm)):
        return False
    opt.step()
    return True


def main(argv=None):
    import cv2
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--arch", default=ARCH, choices=ARCHS)
    ap.add_argument("--seed", type=int, default=None, help="default: the recipe's (v3, v4: 5), else 0")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps (smoke tests)")
    ap.add_argument("--local-weight", type=float, default=None, help="override the recipe's local weight (v3)")
    ap.add_argument("--lfw-limit", type=int, default=0, help="first N LFW images only (smoke tests)")
    ap.add_argument("--min-sigma", type=float, default=SIGMA_PX[0], help="narrowest bump (sigma, crop px)")
    ap.add_argument("--init", default=None, help="start from these weights (a fine-tune) instead of the initialisation")
    ap.add_argument("--lr", type=float, default=None, help="override the recipe's peak learning rate")
    ap.add_argument("--clean-fraction", type=float, default=None,
                    help="share of pairs without webcam degradation (default: the recipe's; v4 0.3, else 0)")
    ap.add_argument("--blink-fraction", type=float, default=None,
                    help="share of pairs in which both upper eyelids close (default: the recipe's; 0)")
    ap.add_argument("--name", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the reruns' reference; 2 trains ~1.4x faster, with other float rounding)")
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(a.threads)
    recipe = dict(RECIPES[a.arch])
    a.seed = recipe_seed(a.arch) if a.seed is None else a.seed
    recipe.pop("seed", None)   # reported on its own
    if a.steps:
        recipe["steps"] = a.steps
    if a.local_weight is not None:
        recipe["local_weight"] = a.local_weight
    if a.lr is not None:
        recipe["lr"] = a.lr
    recipe["sigma_px"] = [a.min_sigma, SIGMA_PX[1]]
    recipe["clean_fraction"] = recipe.get("clean_fraction", 0.0) if a.clean_fraction is None else a.clean_fraction
    recipe["blink_fraction"] = recipe.get("blink_fraction", 0.0) if a.blink_fraction is None else a.blink_fraction
    recipe["forehead"] = recipe.get("forehead", False)
    recipe["vertical_brows"] = recipe.get("vertical_brows", 0.0)
    recipe["brow_actions"] = recipe.get("brow_actions", 0.0)
    recipe["small_head"] = recipe.get("small_head", 0.0)
    recipe["micro_fraction"] = recipe.get("micro_fraction", 0.0)
    init_from = recipe.pop("init_from", None)
    if init_from and not a.init:   # a recipe that continues another one's training
        a.init = str(CACHE / f"{checkpoint_name(init_from, recipe_seed(init_from))}.pt")
        if not Path(a.init).exists():
            raise SystemExit(f"{a.arch} continues {init_from}'s training, but {a.init} does not exist: "
                             f"run `python -m glimpse_train flow-train --arch {init_from}` first")
    if a.init:
        recipe["init"] = a.init
    name = a.name or checkpoint_name(a.arch, a.seed)

    t0 = time.time()
    pool = build_pool(a.data, a.lfw_limit)
    train_idx = np.flatnonzero(~pool.held_out)
    data = {"faces": len(pool.images), "train": len(train_idx), "held_out": int(pool.held_out.sum()),
            "pool_seconds": round(time.time() - t0, 1)}
    print("data:", data, flush=True)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model = build_model(a.arch)
    if a.init:
        load_init(model, torch.load(a.init, map_location="cpu"))
    trained = trainable(model, recipe.get("train_only"))
    opt = torch.optim.AdamW(trained, lr=recipe["lr"], weight_decay=recipe["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=recipe["steps"],
                                                pct_start=recipe["warmup"], anneal_strategy="cos")
    log, losses, skipped = [], [], 0
    t0 = time.time()
    CACHE.mkdir(parents=True, exist_ok=True)
    for step in range(1, recipe["steps"] + 1):
        model.train()
        x, y, local, valid = (torch.from_numpy(v) for v in batch(pool, train_idx, rng, recipe["batch"],
                                                                  tuple(recipe["sigma_px"]), recipe["clean_fraction"],
                                                                  recipe["blink_fraction"], recipe["forehead"],
                                                                  recipe["vertical_brows"], recipe["brow_actions"],
                                                                  recipe["small_head"], recipe["micro_fraction"]))
        valid = valid if recipe["blink_fraction"] else None   # without blinks every pixel has its truth
        pred = model(x[:, :1], x[:, 1:])
        lw = recipe.get("local_weight", 0.0)
        if isinstance(pred, tuple):   # v2-v4: the final flow and the intermediate estimate(s)
            pred, coarse = pred
            total = epe_loss(pred, y, local, lw, valid) + recipe["coarse_weight"] * sum(
                epe_loss(c, y, local, lw, valid) for c in coarse) / len(coarse)
        else:
            total = epe_loss(pred, y, valid=valid)
        loss = epe_loss(pred.detach(), y, valid=valid)   # logged: the plain EPE of the final flow
        if update(model, opt, total, recipe.get("clip")):
            losses.append(float(loss.detach()))
        else:
            skipped += 1
        sched.step()
        if step % 100 == 0 or step == recipe["steps"]:
            rec = {"step": step, "epe": round(float(np.mean(losses)), 4) if losses else None,
                   "seconds": round(time.time() - t0, 1)}
            if skipped:
                rec["skipped_steps"] = skipped
            losses = []
            log.append(rec)
            print(json.dumps(rec), flush=True)
            torch.save(model.state_dict(), CACHE / f"{name}.pt")
    (REPORTS / f"{name.replace('flow', 'flow_train')}.json").write_text(json.dumps(
        {"arch": a.arch, "recipe": recipe, "seed": a.seed, "torch_threads": a.threads, "data": data, "log": log}, indent=1))
    return 0


if __name__ == "__main__":
    main()
