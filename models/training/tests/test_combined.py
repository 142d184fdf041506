"""A combined MER recipe (`mer_v6`): its components' members averaged with equal weight per member,
both when trained (`train_model`) and in LOSO (`combined_run`, `eval`). No data needed."""
import json

import numpy as np
import pytest
import torch

from glimpse_train import eval as loso_eval
from glimpse_train import loso, train
from glimpse_train.data import MegcData


def tiny_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.array([f"casme2_sub{i % 4:02d}" if i < 12 else f"samm_{i % 3:03d}" for i in range(n)])
    return MegcData(x=rng.uniform(0, 255, (n, 3, 28, 28)).astype(np.float32), y=np.arange(n) % 3,
                    subject=subjects, dataset=np.array([s.split("_")[0] for s in subjects]),
                    sample=np.array([f"s{i}" for i in range(n)]))


def test_the_shipped_combination_is_the_preregistered_one():
    assert train.components("mer_v6") == ("f5cnet_v4", "f5cnet_v5", "ststnet_v2")
    assert train.components("f5cnet_v4") == ()
    assert train.RECIPES["mer_v6"]["members"] == sum(train.RECIPES[p]["members"] for p in train.components("mer_v6"))


def test_train_model_averages_every_members_probabilities(monkeypatch):
    recipes = dict(train.RECIPES)
    recipes["a"] = dict(train.RECIPES["f5cnet"], epochs=1, members=2)
    recipes["b"] = dict(train.RECIPES["ststnet"], epochs=1)
    recipes["ab"] = dict(combine=("a", "b"), arch="ensemble", members=3, epochs=1)
    monkeypatch.setattr(train, "RECIPES", recipes)
    d = tiny_data()
    log = {}
    both = train.train_model("ab", d.x, d.y, seed=3, log=log)
    a = train.train_model("a", d.x, d.y, seed=3)
    b = train.train_model("b", d.x, d.y, seed=3)
    assert len(both.members) == 3 and len(log["final_train_loss_per_member"]) == 3
    x = torch.from_numpy(d.x[:5])
    with torch.no_grad():
        want = (2 * a(x).exp() + torch.softmax(b(x), 1)) / 3   # a: log of its 2 members' mean
        got = both(x).exp()
    assert torch.allclose(got, want, atol=1e-6)


def test_a_mirror_averaging_component_is_refused(monkeypatch):
    recipes = dict(train.RECIPES, bad=dict(combine=("f5cnet_v3",), arch="ensemble", members=3, epochs=1))
    monkeypatch.setattr(train, "RECIPES", recipes)
    d = tiny_data()
    with pytest.raises(ValueError, match="mirror"):
        train.train_model("bad", d.x, d.y, seed=0)


def write_run(folder, recipe, seed, logits, subjects):
    folds = [{"subject": s, "seconds": 1.0} for s in dict.fromkeys(subjects)]
    (folder / f"{recipe}_s{seed}.json").write_text(json.dumps(
        {"logits_in_labels_csv_order": np.asarray(logits).tolist(), "folds": folds, "seconds": 2.0}))


def test_combined_run_weights_each_component_by_its_members(tmp_path, monkeypatch):
    d = tiny_data()
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(loso, "REPORTS", tmp_path)
    rng = np.random.default_rng(1)
    probs = {}
    for part in train.components("mer_v6"):
        p = rng.dirichlet(np.ones(3), len(d.y))
        probs[part] = p
        write_run(tmp_path / "runs", part, 0, np.log(p), d.subject)
    run = loso.combined_run(d, "mer_v6", 0)
    members = {p: train.RECIPES[p]["members"] for p in probs}
    want = sum(members[p] * probs[p] for p in probs) / sum(members.values())
    got = np.exp(np.asarray(run["logits_in_labels_csv_order"]))
    assert np.allclose(got, want, atol=1e-3)   # logits stored to 4 decimals
    assert run["predictions_in_labels_csv_order"] == want.argmax(1).tolist()
    acc = float((want.argmax(1) == d.y).mean())
    assert abs(run["metrics"]["overall"]["acc"] - acc) < 1e-12
    assert sum(f["correct"] for f in run["folds"]) == int(round(acc * len(d.y)))
    assert run["components"] == list(train.components("mer_v6"))


def test_combined_run_names_a_missing_component_run(tmp_path, monkeypatch):
    d = tiny_data()
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(loso, "REPORTS", tmp_path)
    write_run(tmp_path / "runs", "f5cnet_v4", 0, np.log(np.full((len(d.y), 3), 1 / 3)), d.subject)
    with pytest.raises(FileNotFoundError, match="f5cnet_v5_s0.json"):
        loso.combined_run(d, "mer_v6", 0)


def test_eval_builds_the_combined_run_from_finished_components(tmp_path, monkeypatch):
    d = tiny_data()
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(loso, "REPORTS", tmp_path)
    monkeypatch.setattr(loso_eval, "REPORTS", tmp_path)
    monkeypatch.setattr("glimpse_train.data.load_megc", lambda root=None: d)
    onehot = np.log(np.eye(3)[d.y] * 0.98 + 0.01)   # every component right
    for part in train.components("mer_v6"):
        write_run(tmp_path / "runs", part, 0, onehot, d.subject)
    loso_eval.run_missing(["mer_v6"], [0], jobs=1, data=None, rerun=False)
    run = json.loads((tmp_path / "runs" / "mer_v6_s0.json").read_text())
    assert run["metrics"]["overall"]["uf1"] == 1.0 and run["recipe_name"] == "mer_v6"
