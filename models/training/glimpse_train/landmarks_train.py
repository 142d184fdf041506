"""`python -m glimpse_train landmarks-train [--epochs N] [--seed S]`: train the 68-point landmark
model with the one fixed recipe and save cache/landmarks_s{seed}.pt (+ a log in reports/).

Data (all read from ../shared, nothing copied): 300-W afw + helen (helen_test is never read),
YTF `training` minus the videos that also appear in YTF `test`, and LFW with MediaPipe teacher
labels mapped to 68 points (`landmarks-teacher` must have run). Each epoch draws 300-W x3,
all YTF training frames and 3,000 LFW faces; every sample is a fresh augmentation
(landmarks.make_sample). Loss: L1 of the points over the inter-ocular distance (LFW weight 0.5).
AdamW lr 2e-3, wd 1e-4, one-cycle (5 % warm-up, cosine), batch 64; the last epoch is kept.
v1 (96-px crops) added a continuation stage (`--resume ... --epochs 20 --lr 5e-4 --seed 1
--name landmarks_s0_stage2`); v2 (128-px crops, the shipped contract) starts from v1's exported
weights (`--init-onnx`, see landmarks.init_from_onnx) with the v2 command of models/landmarks.md.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .landmarks import CACHE, LabelledSet, build_model, init_from_onnx, iod, load_set, make_sample, ytf_test_videos
from .loso import REPORTS

RECIPE = {"epochs": 50, "batch": 64, "lr": 2e-3, "wd": 1e-4, "warmup": 0.05, "w300": 3, "lfw_per_epoch": 3000,
          "lfw_weight": 0.5}


def load_lfw(shared=None) -> LabelledSet | None:
    import cv2

    from .data import default_shared
    from .landmarks_teacher import LFW_CACHE
    from pathlib import Path

    if not LFW_CACHE.is_file():
        return None
    z = np.load(LFW_CACHE)
    root = Path(shared or default_shared()) / "data" / "faces" / "lfw"
    imgs = [cv2.imread(str(root / n), cv2.IMREAD_GRAYSCALE) for n in z["names"]]
    return LabelledSet("lfw:teacher", imgs, z["points"].astype(np.float64), list(z["names"]), weight=RECIPE["lfw_weight"])


def training_sets(shared=None):
    w300 = load_set("300w", ("afw", "helen"), shared)
    ytf = load_set("ytf", ("training",), shared, exclude_videos=ytf_test_videos(shared))
    lfw = load_lfw(shared)
    return w300, ytf, lfw


def epoch_index(sets, rng, recipe):
    w300, ytf, lfw = sets
    idx = [(0, i) for i in range(len(w300.images))] * recipe["w300"]
    idx += [(1, i) for i in range(len(ytf.images))]
    if lfw is not None:
        idx += [(2, int(i)) for i in rng.choice(len(lfw.images), min(recipe["lfw_per_epoch"], len(lfw.images)), replace=False)]
    order = rng.permutation(len(idx))
    return [idx[i] for i in order]


def main(argv=None):
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    ap.add_argument("--limit", type=int, default=0, help="batches per epoch (smoke tests)")
    ap.add_argument("--resume", help="start from these weights (a continuation stage)")
    ap.add_argument("--init-onnx", help="start from an exported model's weights (any crop size; v2 from v1)")
    ap.add_argument("--lr", type=float, default=RECIPE["lr"])
    ap.add_argument("--name", default=None, help="checkpoint/report name (default landmarks_s{seed})")
    a = ap.parse_args(argv)
    recipe = dict(RECIPE, epochs=a.epochs, lr=a.lr, resume=a.resume, init_onnx=a.init_onnx)
    name = a.name or f"landmarks_s{a.seed}"

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    sets = training_sets(a.data)
    print("data:", {s.name: len(s.images) for s in sets if s is not None}, flush=True)
    model = build_model()
    if a.resume:
        model.load_state_dict(torch.load(a.resume, map_location="cpu"))
    if a.init_onnx:  # batch-norm statistics from 256 training crops of a separate random stream
        crng = np.random.default_rng(a.seed + 1000)
        calib = [make_sample(sets[si].images[i], sets[si].points[i], crng)[0] for si, i in epoch_index(sets, crng, recipe)[:256]]
        init_from_onnx(model, a.init_onnx, np.stack(calib)[:, None])
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    per_epoch = len(epoch_index(sets, np.random.default_rng(0), recipe)) // recipe["batch"]
    if a.limit:
        per_epoch = min(per_epoch, a.limit)
    total = per_epoch * recipe["epochs"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=total,
                                                pct_start=recipe["warmup"], anneal_strategy="cos")
    log = []
    t0 = time.time()
    step = 0
    for epoch in range(recipe["epochs"]):
        model.train()
        idx = epoch_index(sets, rng, recipe)
        losses = []
        for b in range(per_epoch):
            chunk = idx[b * recipe["batch"]:(b + 1) * recipe["batch"]]
            xs, ys, ws = [], [], []
            for si, i in chunk:
                s = sets[si]
                x, y = make_sample(s.images[i], s.points[i], rng)
                xs.append(x)
                ys.append(y)
                ws.append(s.weight)
            x = torch.from_numpy(np.stack(xs)[:, None])
            y = torch.from_numpy(np.stack(ys))
            w = torch.tensor(ws, dtype=torch.float32)
            d = torch.from_numpy(iod(np.stack(ys))).clamp(min=4.0)
            pred = model(x)
            err = (pred - y).abs().sum(-1).mean(-1) / d
            loss = (err * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": round(time.time() - t0, 1)}
        log.append(rec)
        print(json.dumps(rec), flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), CACHE / f"{name}.pt")
    (REPORTS / f"{name.replace('landmarks', 'landmarks_train')}.json").write_text(json.dumps({"recipe": recipe, "seed": a.seed,
        "data": {s.name: len(s.images) for s in sets if s is not None}, "log": log}, indent=1))
    return 0


if __name__ == "__main__":
    main()
