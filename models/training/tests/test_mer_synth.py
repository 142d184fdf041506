"""The synthetic micro-expression motion used to pretrain recipe f5cnet_v4 (no data needed:
a smooth random texture stands in for a face photograph)."""
import numpy as np
import torch

from glimpse_train import mer_synth as M
from glimpse_train.landmarks import TEMPLATE


def texture(seed=0, size=200):
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)


def test_framing_puts_the_eyes_where_the_megc_images_have_them():
    m = M.canonical_to_megc()
    left, right = (M.apply(m, TEMPLATE[i:i + 6]).mean(0) for i in (36, 42))
    np.testing.assert_allclose(left, [0.25 * M.CROP, 0.195 * M.CROP], atol=0.01)
    np.testing.assert_allclose(right, [0.75 * M.CROP, 0.195 * M.CROP], atol=0.01)


def test_the_runtime_window_is_the_synthetic_framing():
    from glimpse_train.preprocess import mer_window

    assert mer_window(128) == (23, 26, 82) and mer_window(256) == (46, 53, 164)   # as the Rust test
    x0, y0, side = mer_window(128)
    corners = M.apply(M.canonical_to_megc(), np.array([[x0, y0], [x0 + side, y0 + side]], float))
    np.testing.assert_allclose(corners, [[0, 0], [M.CROP, M.CROP]], atol=0.5 * M.CROP / side + 1e-9)


def test_events_carry_their_class_action_units_and_are_reproducible():
    src = texture()
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])   # the texture stands in for a canonical crop
    for cls, first in (("surprise", "au1_2"), ("positive", "au12")):
        a = M.make_sample(src, identity, cls, np.random.default_rng(3))
        b = M.make_sample(src, identity, cls, np.random.default_rng(3))
        assert a[3][0] == first
        assert np.array_equal(a[2], b[2]) and np.array_equal(a[0], b[0])
        assert a[2].shape == (3, 28, 28) and a[2].min() == 0.0 and a[2].max() == 255.0
    for seed in range(20):
        ev, aus = M.draw_event("negative", TEMPLATE, np.random.default_rng(seed))
        assert aus and set(aus) <= {a for a, _ in M.NEGATIVE_AUS} and len(ev.sigmas) > 0


def test_surprise_raises_the_brows_and_au4_lowers_them():
    rng = np.random.default_rng(0)
    pts = M.apply(M.canonical_to_megc(), TEMPLATE)
    brows = pts[17:27]
    for cls, sign in (("surprise", -1.0), ("negative", 1.0)):
        ev = M.Events(pts, rng)
        ev.side = {"left": 1.0, "right": 1.0}
        (ev.au1_2 if cls == "surprise" else ev.au4)(2.0)
        v = np.zeros(len(brows))
        for c, s, vec in zip(ev.centres, ev.sigmas, ev.vectors):
            v += vec[1] * np.exp(-0.5 * ((brows - c) ** 2).sum(1) / s ** 2)
        assert np.sign(v[[3, 4, 5, 6]]).tolist() == [sign] * 4, (cls, v)


def test_v4_members_start_from_the_pretrained_weights(tmp_path, monkeypatch):
    from glimpse_train import mer_pretrain, train
    from glimpse_train.models import build

    torch.manual_seed(1)
    weights = tmp_path / "pretrained.pt"
    torch.save(build("f5cnet").state_dict(), weights)
    monkeypatch.setattr(mer_pretrain, "PRETRAINED", weights)
    seen = []
    original = torch.nn.Module.load_state_dict
    monkeypatch.setattr(torch.nn.Module, "load_state_dict",
                        lambda self, sd, *a, **k: (seen.append(sd), original(self, sd, *a, **k))[1])
    x = np.random.default_rng(0).uniform(0, 255, (8, 3, 28, 28)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    r = dict(train.RECIPES["f5cnet_v4"], epochs=1, members=1)
    train.train_network(r, x, y, seed=0)
    assert len(seen) == 1 and torch.equal(seen[0]["fc.weight"], torch.load(weights)["fc.weight"])
    seen.clear()
    train.train_network(dict(r, pretrained=None), x, y, seed=0)
    assert not seen


def test_v5_trains_on_synthetic_events_beside_the_real_ones(monkeypatch):
    from glimpse_train import mer_synth, train

    rng = np.random.default_rng(0)
    sx = rng.uniform(0, 255, (40, 3, 28, 28)).astype(np.float32)
    sy = np.arange(40) % 3
    calls = []
    monkeypatch.setattr(mer_synth, "load", lambda *a: (calls.append(1), (sx, sy))[1])
    x = rng.uniform(0, 255, (8, 3, 28, 28)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    base = dict(train.RECIPES["f5cnet_v5"], epochs=2, members=1, pretrained=None)
    with_synthetic = train.train_network(base, x, y, seed=0)
    assert calls == [1]
    again = train.train_network(base, x, y, seed=0)
    without = train.train_network(dict(base, synthetic_batch=0), x, y, seed=0)
    w = lambda m: m.state_dict()["fc.weight"]  # noqa: E731
    assert torch.equal(w(with_synthetic), w(again))
    assert not torch.allclose(w(with_synthetic), w(without))
