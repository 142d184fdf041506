"""The fixed training recipes (hyper-parameters fixed in advance, nothing chosen on a test fold).

Recipe `ststnet` / `f5cnet` (session 3): AdamW, cosine learning-rate decay to 0 over a fixed number of epochs,
batch 32, class-weighted cross-entropy (inverse class frequency of the training set) with label
smoothing 0.1, augmentation = random horizontal mirror (u channel negated: 255 - u, because the
channels are min-max normalised per image) + random translation of up to 2 px (edge replicate).
The model after the last epoch is the model; there is no epoch selection.
Recipe `f5cnet_v2` (session 7, reports/mer_v2_preregistration.md): the same with 40 epochs and 3
members trained with their own seeds, whose softmax probabilities are averaged (`Ensemble`);
`ststnet_v2` trains STSTNet that way, as a comparison.
Recipe `f5cnet_v3` (session 12, reports/mer_v3_preregistration.md): v2 plus mixup (Beta(0.2, 0.2))
and each member's probabilities averaged over the input and its mirror image.
Recipe `f5cnet_v4` (session 13, reports/mer_v4_preregistration.md): v2 whose members start from
weights pretrained on synthetic action-unit motion (`mer_synth`, `mer_pretrain`) instead of a
random initialisation. `f5cnet_v5` (reports/mer_v5_preregistration.md): v4 that also trains on
synthetic events beside the real ones in every batch.
A combined recipe (`mer_v6`, reports/mer_v6_preregistration.md) trains no network of its own: it
is its component recipes' members, each trained exactly by its own recipe, averaged as one
`Ensemble` with equal weight per member.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import build

RECIPES = {
    "ststnet": dict(arch="ststnet", epochs=20, lr=2e-3, weight_decay=1e-4, batch=32, label_smoothing=0.1,
                    flip=True, shift=2, members=1),
    "f5cnet": dict(arch="f5cnet", epochs=20, lr=2e-3, weight_decay=5e-4, batch=32, label_smoothing=0.1,
                   flip=True, shift=2, members=1),
}
# v2 = the session-3 recipe trained twice as long, 3 members averaged; nothing else differs.
V2_CHANGES = dict(epochs=40, members=3)
RECIPES["f5cnet_v2"] = dict(RECIPES["f5cnet"], **V2_CHANGES)
# A comparison row only (see the pre-registration's addendum), never the shipped model.
RECIPES["ststnet_v2"] = dict(RECIPES["ststnet"], **V2_CHANGES)
# v3 = v2 plus mixup of training pairs (Beta(0.2, 0.2) weights) and a prediction averaged over the
# input and its mirror image (reports/mer_v3_preregistration.md); nothing else differs.
RECIPES["f5cnet_v3"] = dict(RECIPES["f5cnet_v2"], mixup=0.2, mirror_average=True)
# v4 = v2 whose members start from F5CNet weights pretrained on synthetic action-unit motion
# (reports/mer_v4_preregistration.md); nothing else differs.
RECIPES["f5cnet_v4"] = dict(RECIPES["f5cnet_v2"], pretrained="synthetic-action-units")
# v5 = v4 that keeps training on the synthetic events beside the real ones: every step adds 16
# synthetic events to the batch of 32, their loss weighted 0.5 (reports/mer_v5_preregistration.md)
RECIPES["f5cnet_v5"] = dict(RECIPES["f5cnet_v4"], synthetic_batch=16, synthetic_weight=0.5)
# v7 = v4 whose network adds a regional branch over four eye and mouth windows
# (`F5CNetRegions`, reports/mer_v7_preregistration.md); it did not beat v4, so the combination
# its rule would have tried next (v6 with v7 in v4's place) was never built
RECIPES["f5cnet_v7"] = dict(RECIPES["f5cnet_v4"], arch="f5cnet_regions")
# v6 = the members of three recipes that differ in kind (pretrained, co-trained, another
# architecture) averaged with equal weight per member (reports/mer_v6_preregistration.md)
RECIPES["mer_v6"] = dict(combine=("f5cnet_v4", "f5cnet_v5", "ststnet_v2"), arch="ensemble", members=9, epochs=40)
MEMBER_SEED_STRIDE = 100_000


def components(recipe_name: str) -> tuple:
    """The recipes a combined recipe averages; () for a recipe that trains its own network."""
    return tuple(RECIPES[recipe_name].get("combine", ()))

U_CHANNEL = 2  # BGR order of the PNG: 0 strain, 1 v, 2 u


def mirrored(x: torch.Tensor) -> torch.Tensor:
    """The motion image of the mirrored face: left and right swap and u changes sign, which for
    a per-image min-max channel is 255 - u (exact)."""
    xf = x.flip(3)
    return torch.cat([xf[:, :U_CHANNEL], 255.0 - xf[:, U_CHANNEL:U_CHANNEL + 1], xf[:, U_CHANNEL + 1:]], 1)


def augment(x: torch.Tensor, g: torch.Generator, flip: bool, shift: int) -> torch.Tensor:
    n = x.shape[0]
    if flip:
        m = torch.rand(n, generator=g) < 0.5
        if m.any():
            x = x.clone()
            x[m] = mirrored(x[m])
    if shift > 0:
        xp = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=g)
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=g)
        ar = torch.arange(28)
        rows = (dy[:, None] + ar)[:, None, :, None]
        cols = (dx[:, None] + ar)[:, None, None, :]
        x = xp[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    return x


class Ensemble(nn.Module):
    """Members' softmax probabilities averaged; returns their log, so that a softmax of the
    output gives the mean probabilities back (the `logits` contract of a single network)."""

    def __init__(self, members: list[nn.Module], mirror_average: bool = False):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.mirror_average = mirror_average   # each member also sees the mirror image (v3)

    def forward(self, x):
        views = [x, mirrored(x)] if self.mirror_average else [x]
        p = torch.stack([F.softmax(m(v), dim=1) for m in self.members for v in views]).mean(0)
        return torch.log(p)


def train_model(recipe_name: str, x: np.ndarray, y: np.ndarray, seed: int, recipe: dict | None = None,
                log=None, after_epoch=None) -> nn.Module:
    """Trains the recipe's network (or, for members > 1, its ensemble: member m with seed
    seed + MEMBER_SEED_STRIDE*m) on x, y and returns it in eval mode. after_epoch(member, epoch,
    model), if given, goes to each member's `train_network` (not for a combined recipe)."""
    r = dict(RECIPES[recipe_name]) if recipe is None else recipe

    def member_hook(m):
        return None if after_epoch is None else (lambda ep, model: after_epoch(m, ep, model))

    if r.get("combine"):   # each component trained by its own recipe with the same seed
        if after_epoch is not None:
            raise ValueError(f"{recipe_name} combines other recipes: their members' epochs are not recorded")
        members = []
        for part in r["combine"]:
            if RECIPES[part].get("mirror_average"):
                raise ValueError(f"{part} averages over mirror images, which its members alone do not")
            plog: dict = {} if log is not None else None
            model = train_model(part, x, y, seed, log=plog)
            members.extend(model.members if isinstance(model, Ensemble) else [model])
            if log is not None:
                log.setdefault("final_train_loss_per_member", []).extend(
                    plog.get("final_train_loss_per_member", [plog.get("final_train_loss")]))
        return Ensemble(members).eval()
    if r.get("members", 1) == 1 and not r.get("mirror_average"):
        return train_network(r, x, y, seed, log, member_hook(0))
    members = []
    for m in range(r["members"]):
        mlog: dict = {}
        members.append(train_network(r, x, y, seed + MEMBER_SEED_STRIDE * m, mlog, member_hook(m)))
        if log is not None:
            log.setdefault("final_train_loss_per_member", []).append(mlog["final_train_loss"])
    return Ensemble(members, r.get("mirror_average", False)).eval()


def train_network(r: dict, x: np.ndarray, y: np.ndarray, seed: int, log=None, after_epoch=None) -> nn.Module:
    """One network by recipe r. after_epoch(epoch, model), if given, is called after every epoch
    with the model in eval mode (the `selection-bias` diagnostic); it must not train the model,
    and the training is the same with or without it."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = build(r["arch"])
    if r.get("pretrained"):
        from .mer_pretrain import pretrained_weights

        # the pretrained F5CNet; a network that extends it (`f5cnet_regions`) keeps its own extra
        # parts as initialised
        missing, unexpected = model.load_state_dict(torch.load(pretrained_weights(), map_location="cpu"), strict=False)
        if unexpected or any(not k.startswith("region_") for k in missing):
            raise ValueError(f"the pretrained weights do not fit {r['arch']}: missing {missing}, unexpected {unexpected}")
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    counts = np.bincount(np.asarray(y), minlength=3).astype(np.float64)
    w = counts.sum() / (3.0 * np.maximum(counts, 1.0))
    crit = nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32), label_smoothing=r["label_smoothing"])
    opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=r["weight_decay"], fused=True)
    n = len(yt)
    steps_per_epoch = int(np.ceil(n / r["batch"]))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r["lr"], total_steps=r["epochs"] * steps_per_epoch,
                                                pct_start=0.1, anneal_strategy="cos")
    synthetic = None
    if r.get("synthetic_batch"):
        from . import mer_synth

        sx, sy = mer_synth.load()
        synthetic = (torch.from_numpy(sx), torch.from_numpy(sy))
        crit_synthetic = nn.CrossEntropyLoss(label_smoothing=r["label_smoothing"])   # the set is balanced
    model.train()
    last = 0.0
    for ep in range(r["epochs"]):
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * r["batch"]: (s + 1) * r["batch"]]
            if len(idx) < 2:  # BN needs 2 samples
                continue
            xb = augment(xt[idx], g, r["flip"], r["shift"])
            if r.get("mixup"):   # each sample blended with another of the batch, as are their losses
                lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
                            .beta(r["mixup"], r["mixup"]))   # drawn from the run's own generator: reproducible
                other = torch.randperm(len(idx), generator=g)
                out = model(lam * xb + (1.0 - lam) * xb[other])
                loss = lam * crit(out, yt[idx]) + (1.0 - lam) * crit(out, yt[idx][other])
            elif synthetic is not None:   # one forward pass, so that batch norm sees both kinds
                pick = torch.randint(0, len(synthetic[1]), (r["synthetic_batch"],), generator=g)
                xs = augment(synthetic[0][pick], g, r["flip"], r["shift"])
                out = model(torch.cat([xb, xs]))
                loss = crit(out[:len(idx)], yt[idx]) + r["synthetic_weight"] * crit_synthetic(out[len(idx):], synthetic[1][pick])
            else:
                loss = crit(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        last = tot / n
        if after_epoch is not None:
            model.eval()
            after_epoch(ep, model)
            model.train()
    if log is not None:
        log["final_train_loss"] = round(last, 4)
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
