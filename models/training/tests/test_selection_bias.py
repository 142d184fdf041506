"""The selection-bias diagnostic: recording every epoch leaves the training as it was, and the
three selections pick what they say. No data needed."""
import json

import numpy as np

from glimpse_train import selection_bias, train
from glimpse_train.train import MEMBER_SEED_STRIDE

from test_combined import tiny_data


def test_recording_every_epoch_leaves_the_last_epoch_as_the_recipe_trains_it(monkeypatch):
    recipes = dict(train.RECIPES, tiny=dict(train.RECIPES["f5cnet"], epochs=2, members=2))
    monkeypatch.setattr(selection_bias, "RECIPES", recipes)
    monkeypatch.setattr(train, "RECIPES", recipes)
    d = tiny_data()
    probs = selection_bias.record_epochs(d, "tiny", seed=1, log_every=False)
    assert probs.shape == (2, 2, len(d.y), 3)
    last = selection_bias.ensemble_log_probs(probs)[-1]
    for k, subj in enumerate(d.subjects):   # the folds as `loso.loso_train` trains them
        te, tr = d.subject == subj, d.subject != subj
        model = train.train_model("tiny", d.x[tr], d.y[tr], seed=1 * 1000 + k)
        np.testing.assert_allclose(last[te], train.predict_logits(model, d.x[te]), atol=1e-5)
    # and the first epoch is a different model: the record is not the last epoch copied
    assert np.abs(probs[:, 0] - probs[:, 1]).max() > 1e-3
    assert MEMBER_SEED_STRIDE == 100_000   # the member seeds `train_model` uses


def test_the_three_selections_pick_what_they_say():
    y = np.array([0, 1, 2, 0, 1, 2])
    subject = np.array(["a", "a", "a", "b", "b", "b"])
    right, wrong = np.eye(3)[y], np.eye(3)[(y + 1) % 3]
    # epoch 1: all right on a, all wrong on b; epoch 2: the reverse; epoch 3: one right on each
    epochs = [np.where((subject == "a")[:, None], right, wrong),
              np.where((subject == "b")[:, None], right, wrong),
              np.where((np.arange(6) % 3 == 0)[:, None], right, wrong)]
    log_probs = np.log(np.stack(epochs) * 0.9 + 0.1 / 3)
    picked = selection_bias.select(log_probs, y, subject)
    assert picked["last epoch"][1] == [3]
    np.testing.assert_array_equal(picked["last epoch"][0], log_probs[2].argmax(1))
    np.testing.assert_array_equal(picked["each fold's best epoch"][0], y)      # a from epoch 1, b from 2
    assert picked["each fold's best epoch"][1] == [1, 2]
    assert picked["one epoch for all folds"][1] == [1]   # epochs 1 and 2 tie on pooled UF1: the first
    ties = np.log(np.stack([epochs[0], epochs[0]]) * 0.9 + 0.1 / 3)
    assert selection_bias.select(ties, y, subject)["each fold's best epoch"][1] == [2, 2]   # latest on ties


def test_a_combined_recipe_is_refused():
    d = tiny_data()
    try:
        selection_bias.record_epochs(d, "mer_v6", seed=0)
    except ValueError as e:
        assert "plain networks" in str(e)
    else:
        raise AssertionError("a combined recipe was recorded")


def test_the_after_epoch_hook_sees_an_eval_mode_model_every_epoch():
    d = tiny_data()
    seen = []
    r = dict(train.RECIPES["ststnet"], epochs=3)
    train.train_network(r, d.x, d.y, seed=0, after_epoch=lambda ep, m: seen.append((ep, m.training)))
    assert seen == [(0, False), (1, False), (2, False)]


def test_tuned_offsets_find_the_constant_that_makes_every_prediction_right():
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    # every sample's own class is 0.7 below the top class 0 except for negatives: an offset of
    # +1 on positive and surprise makes all of them right, none is needed for negatives
    log_probs = np.full((7, 3), -3.0)
    log_probs[:, 0] = 0.0
    log_probs[np.arange(7), y] = np.where(y == 0, 0.0, -0.7)
    assert selection_bias.uf1_uar(y, log_probs.argmax(1))[0] < 0.5
    np.testing.assert_array_equal(selection_bias.tuned_offsets(log_probs, y), y)


def test_the_offset_oracle_reads_a_saved_run_and_never_lowers_its_uf1(tmp_path, monkeypatch):
    d = tiny_data()
    rng = np.random.default_rng(4)
    logits = np.log(rng.dirichlet(np.ones(3), len(d.y)))
    (tmp_path / "r_s0.json").write_text(json.dumps({"logits_in_labels_csv_order": logits.tolist()}))
    monkeypatch.setattr(selection_bias, "run_path", lambda recipe, seed: tmp_path / f"{recipe}_s{seed}.json")
    got = selection_bias.offsets_on_saved_runs(d, "r", [0, 1])
    assert list(got) == [0]   # seed 1 has no saved run
    assert got[0]["saved"]["uf1"] == selection_bias.uf1_uar(d.y, logits.argmax(1))[0]
    assert got[0]["class offsets tuned"]["uf1"] >= got[0]["saved"]["uf1"]
