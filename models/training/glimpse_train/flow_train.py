"""`python -m glimpse_train flow-train [--steps N] [--seed S]`: train the flow model with the one
fixed recipe and save cache/flow_s{seed}.pt (+ reports/flow_train_s{seed}.json).

Data (read from ../shared, nothing copied): LFW (aligned by its Haar box, as the pipeline's
default) and 300-W afw + helen (aligned on their labels), minus the held-out faces (LFW people
with crc32(name) % 10 == 0, and 300-W helen_test). Every sample is a fresh pair from
`flow.make_pair`. Loss: the mean end-point error over the crop. AdamW lr 2e-3, wd 1e-4,
one-cycle (5 % warm-up, cosine), batch 16; the last step is kept (no selection on held-out data).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .flow import build_model, build_pool, make_pair
from .landmarks import CACHE
from .loso import REPORTS

RECIPE = {"steps": 2500, "batch": 16, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05}


def batch(pool, train_idx, rng, n):
    xs, ys = [], []
    for j in rng.choice(train_idx, n):
        a, b, flow, _ = make_pair(pool.images[j], pool.to_crop[j], rng)
        xs.append(np.stack([a, b]))
        ys.append(flow)
    return np.stack(xs), np.stack(ys)


def main(argv=None):
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=RECIPE["steps"])
    ap.add_argument("--lfw-limit", type=int, default=0, help="first N LFW images only (smoke tests)")
    ap.add_argument("--name", default=None)
    a = ap.parse_args(argv)
    recipe = dict(RECIPE, steps=a.steps)
    name = a.name or f"flow_s{a.seed}"

    t0 = time.time()
    pool = build_pool(a.data, a.lfw_limit)
    train_idx = np.flatnonzero(~pool.held_out)
    data = {"faces": len(pool.images), "train": len(train_idx), "held_out": int(pool.held_out.sum()),
            "pool_seconds": round(time.time() - t0, 1)}
    print("data:", data, flush=True)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=recipe["steps"],
                                                pct_start=recipe["warmup"], anneal_strategy="cos")
    log, losses = [], []
    t0 = time.time()
    CACHE.mkdir(parents=True, exist_ok=True)
    for step in range(1, recipe["steps"] + 1):
        model.train()
        x, y = batch(pool, train_idx, rng, recipe["batch"])
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        pred = model(x[:, :1], x[:, 1:])
        loss = ((pred - y) ** 2).sum(1).add(1e-6).sqrt().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 100 == 0 or step == recipe["steps"]:
            rec = {"step": step, "epe": round(float(np.mean(losses)), 4), "seconds": round(time.time() - t0, 1)}
            losses = []
            log.append(rec)
            print(json.dumps(rec), flush=True)
            torch.save(model.state_dict(), CACHE / f"{name}.pt")
    (REPORTS / f"{name.replace('flow', 'flow_train')}.json").write_text(json.dumps(
        {"recipe": recipe, "seed": a.seed, "torch_threads": 1, "data": data, "log": log}, indent=1))
    return 0


if __name__ == "__main__":
    main()
