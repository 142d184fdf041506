import numpy as np
import pytest
import torch

from glimpse_train import flow as FL
from glimpse_train.export import ort_session
from glimpse_train.flow_export import export_flow, golden_pair
from glimpse_train.landmarks import landmarks_available


def smooth_texture(seed=0, size=220):
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 4)
    return np.clip((x - x.mean()) * 8 + 128, 0, 255)


def test_forward_flow_inverts_the_backward_map():
    """M(x + F(x)) = x: the ground truth is the exact forward flow of the warp that made B."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        f = FL.random_field(rng)
        flow, local = f.flow()
        ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float64)
        # M(y) = L(G^-1 y), evaluated at y = x + F(x)
        px, py = xs + flow[0], ys + flow[1]
        gi = FL.invert(f.g)
        zx = gi[0, 0] * px + gi[0, 1] * py + gi[0, 2]
        zy = gi[1, 0] * px + gi[1, 1] * py + gi[1, 2]
        du, dv = f.local_backward(zx, zy)
        assert np.abs(zx - du - xs).max() < 0.01 and np.abs(zy - dv - ys).max() < 0.01
        assert np.sqrt((local ** 2).sum(0)).max() <= 4.0 + 1e-3


def test_pair_warped_by_its_flow_matches():
    """Without degradation, current(x + F(x)) ~ previous(x) (OpenCV's flow convention)."""
    import cv2

    src = smooth_texture()
    m = np.array([[1.0, 0, -40], [0, 1.0, -40]])
    rng = np.random.default_rng(5)
    ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float32)
    for _ in range(5):
        f = FL.random_field(rng)
        a = FL.sample(src, FL.invert(m), xs, ys)
        mx, my = f.backward_map()
        b = FL.sample(src, FL.invert(m), mx, my)
        flow, _ = f.flow()
        back = cv2.remap(b, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR)
        inner = (slice(12, -12),) * 2
        assert np.abs(back - a)[inner].mean() < 0.6
        if np.abs(flow).max() > 0.5:
            assert np.abs(b - a)[inner].mean() > 3 * np.abs(back - a)[inner].mean()


def shifted_pair(seed):
    """Two 8-bit crops of a smooth texture, the second shifted by (1.5, -0.75) px, and the true flow."""
    src = smooth_texture(seed)
    m = np.array([[1.0, 0, -40], [0, 1.0, -40]])
    f = FL.Field(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2, 2)),
                 FL.similarity_about_centre(0, 0, 1.5, -0.75))
    ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float32)
    a = np.round(FL.sample(src, FL.invert(m), xs, ys))
    mx, my = f.backward_map()
    b = np.round(FL.sample(src, FL.invert(m), mx, my))
    return a, b, f.flow()[0]


def test_classical_flows_share_the_convention():
    """A known global shift of the pair: DIS and TV-L1 find it with the same sign as the truth."""
    a, b, flow = shifted_pair(1)
    assert np.allclose(flow[0], 1.5) and np.allclose(flow[1], -0.75)
    c = FL.Classical()
    for method in ("dis", "tvl1"):
        assert FL.epe(c.run(method, a, b)[:, 16:-16, 16:-16], flow[:, 16:-16, 16:-16]) < 0.15, method


@pytest.mark.parametrize("arch", FL.ARCHS)
def test_network_shapes_and_onnx_export_agree(tmp_path, arch):
    torch.manual_seed(0)
    model = FL.build_model(arch).eval()
    prev, cur = golden_pair()
    with torch.no_grad():
        ref = model(torch.from_numpy(prev), torch.from_numpy(cur)).numpy()
    assert ref.shape == (1, 2, FL.SIZE, FL.SIZE)
    path = tmp_path / "flow.onnx"
    export_flow(model, path)
    assert all(getattr(m, "bands", None) is None and getattr(m, "blocks", None) is None
               for m in model.modules())   # back to the convolutions
    sess = ort_session(path)
    assert [i.name for i in sess.get_inputs()] == ["previous", "current"]
    assert sess.get_outputs()[0].shape[1:] == [2, FL.SIZE, FL.SIZE]
    got = sess.run(["flow"], {"previous": np.concatenate([prev, cur]), "current": np.concatenate([cur, prev])})[0]
    assert got.shape == (2, 2, FL.SIZE, FL.SIZE)
    assert np.abs(got[:1] - ref).max() < 1e-3


def test_a_frozen_window_gives_the_convolutions_sums_dense_or_block_by_block():
    """Exported windows (band matrices; at full resolution cut into blocks) sum what the
    training-time convolutions sum, replicated border included, for a plain and a gated step."""
    torch.manual_seed(0)
    x = torch.rand(2, 5, FL.SIZE, FL.SIZE) * 100
    model = perturbed("v14").eval()
    step, gated = model.full, model.full_more[0]
    want = step.window(x), torch.stack([gated.window(x), gated.wide.window(x)], 1)
    for part in (step, gated):
        part.freeze_windows()
    assert step.blocks is not None and gated.blocks is not None and gated.wide.blocks is not None
    assert gated.block_radius == gated.wide.block_radius == gated.wide.wx.shape[3] // 2   # the wider band
    blocked = step.window(x), gated.both_windows(x)
    dense = FL.banded_window(x, *step.bands), FL.banded_window(x.unsqueeze(1), torch.stack([gated.bands[0], gated.wide.bands[0]]),
                                                               torch.stack([gated.bands[1], gated.wide.bands[1]]))
    for got, ref, plain in zip(blocked, dense, want):
        assert got.shape == plain.shape
        assert torch.allclose(got, plain, atol=1e-3) and torch.allclose(got, ref, atol=1e-4)
    coarse = model.steps[0][0]                                   # 16 px: too small for blocks
    coarse.freeze_windows()
    assert coarse.blocks is None
    for part in (step, gated, coarse):
        part.unfreeze_windows()
    assert all(m.bands is None and m.blocks is None for m in (step, gated, gated.wide, coarse))


def test_warp_moves_the_image_by_the_flow():
    """warp_image(B, F)(x) = B(x + F(x)): with the true flow, B warped gives back A (OpenCV's
    convention, as the v2 network warps frame B towards A); and it matches cv2.remap."""
    import cv2

    src = smooth_texture(2)
    m = np.array([[1.0, 0, -40], [0, 1.0, -40]])
    f = FL.Field(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2, 2)),
                 FL.similarity_about_centre(0.01, 0.01, 1.3, -0.6))
    ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float32)
    a = FL.sample(src, FL.invert(m), xs, ys)
    mx, my = f.backward_map()
    b = FL.sample(src, FL.invert(m), mx, my)
    flow, _ = f.flow()
    warped = FL.warp_image(torch.from_numpy(b)[None, None], torch.from_numpy(flow)[None])[0, 0].numpy()
    ref = cv2.remap(b, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(warped - ref).max() < 0.05
    inner = (slice(12, -12),) * 2
    assert np.abs(warped - a)[inner].mean() < 0.6 < np.abs(b - a)[inner].mean()


def test_v2_returns_its_coarse_estimate_when_training():
    torch.manual_seed(0)
    model = FL.build_model("v2").train()
    prev, cur = (torch.from_numpy(v) for v in golden_pair())
    out, coarse = model(torch.cat([prev, cur]), torch.cat([cur, prev]))
    assert out.shape == (2, 2, FL.SIZE, FL.SIZE) and [c.shape for c in coarse] == [out.shape]
    with pytest.raises(ValueError):
        FL.build_model("v0")


def test_held_out_split_is_by_person():
    assert FL.lfw_person("Aaron_Eckhart_0001.jpg") == "Aaron_Eckhart"
    assert FL.lfw_person("Mary_Jo_Smith_0003.jpg") == "Mary_Jo_Smith"
    people = [f"Person_{i}" for i in range(1000)]
    share = np.mean([FL.is_held_out_person(p) for p in people])
    assert 0.05 < share < 0.15


@pytest.mark.skipif(not landmarks_available(), reason="needs ../shared/data (LFW and 300-W)")
def test_pool_from_shared_data_keeps_people_apart():
    pool = FL.build_pool(lfw_limit=200)
    train = {i for i, h in zip(pool.ids, pool.held_out) if not h and i.startswith("lfw:")}
    held = {i for i, h in zip(pool.ids, pool.held_out) if h and i.startswith("lfw:")}
    assert train and held and not (train & held)
    pairs = FL.held_out_pairs(pool, 3)
    again = FL.held_out_pairs(pool, 3)
    for p, q in zip(pairs, again):
        assert p[0] == q[0] and np.array_equal(p[1], q[1]) and np.array_equal(p[3], q[3])
        assert p[1].shape == p[2].shape == (FL.SIZE, FL.SIZE) and p[3].shape == (2, FL.SIZE, FL.SIZE)


def test_timing_takes_turns_and_reports_every_method():
    from glimpse_train.flow_eval import time_methods

    calls = []
    fns = {m: (lambda x, y, m=m: calls.append(m)) for m in ("ours v2", "dis")}
    pairs = [(None, None, None)] * 7
    out = time_methods(fns, pairs, reps=2)
    assert set(out) == {"ours v2", "dis"} and all(v >= 0 for v in out.values())
    assert calls[10:14] == ["ours v2", "dis", "ours v2", "dis"]   # after the 5 warm-up pairs each


@pytest.mark.parametrize("arch", ["v3", "v4", "v6", "v7", "v7c", "v8", "v8s", "v9"])
def test_untrained_lucas_kanade_nets_recover_a_shift(arch):
    """Before any training v3, v4 and v6 are plain coarse-to-fine Lucas-Kanade (Gaussian windows, a
    zero correction; v8 and v8s with their zero full-resolution one too), v7 and v7c its combined
    local-global form: a global sub-pixel shift of a smooth texture comes out in OpenCV's
    convention."""
    a, b, flow = shifted_pair(3)
    torch.manual_seed(0)
    model = FL.build_model(arch).eval()
    with torch.no_grad():
        got = model(torch.from_numpy(a)[None, None].float(), torch.from_numpy(b)[None, None].float())[0].numpy()
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert FL.epe(got[inner], flow[inner]) < 0.1
    with torch.no_grad():   # and the reverse pair gives the reverse shift
        back = model(torch.from_numpy(b)[None, None].float(), torch.from_numpy(a)[None, None].float())[0].numpy()
    assert FL.epe(back[inner], -flow[inner]) < 0.1


def test_v3_returns_its_four_intermediate_estimates_when_training():
    torch.manual_seed(0)
    model = FL.build_model("v3").train()
    prev, cur = (torch.from_numpy(v) for v in golden_pair())
    out, estimates = model(torch.cat([prev, cur]), torch.cat([cur, prev]))
    assert out.shape == (2, 2, FL.SIZE, FL.SIZE) and [e.shape for e in estimates] == [out.shape] * 4


def perturbed(arch: str):
    """`arch`'s network with every weight moved off its initialisation (seeded), so that copies
    and overwrites show."""
    torch.manual_seed(0)
    model = FL.build_model(arch)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_v3_weights_start_v4_with_the_extra_step_a_copy_of_the_full_resolution_one():
    from glimpse_train.flow_train import load_init

    v3 = perturbed("v3")
    v4 = FL.build_model("v4")
    load_init(v4, v3.state_dict())
    full, extra = v4.full, v4.full_more[0]
    assert torch.equal(full.wx, v3.full.wx) and torch.equal(v4.ref_in[0].weight, v3.ref_in[0].weight)
    assert extra.wx.shape[3] == 11 and full.wx.shape[3] == 17          # sigma 1.5 vs 2.5 windows
    assert torch.equal(extra.wx, full.wx[:, :, :, 3:14]) and torch.equal(extra.wy, full.wy[:, :, 3:14, :])
    assert torch.equal(extra.log_lam, full.log_lam)
    with pytest.raises(ValueError):                                    # not every model fits
        load_init(v4, FL.build_model("v2").state_dict())


def test_a_continued_training_starts_from_every_weight_it_continues():
    """v11 continues v10: its second full-resolution step keeps v10's own window and damping
    (session 16's first v11 runs had them replaced by copies of the first step's)."""
    from glimpse_train.flow_train import load_init

    v10 = perturbed("v10")
    v11 = FL.build_model("v11")
    load_init(v11, v10.state_dict())
    mine = v11.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in v10.state_dict().items())


def test_v13_continues_v12_with_its_wide_solution_started_as_the_first_full_resolution_step():
    from glimpse_train.flow_train import load_init

    v12 = perturbed("v12")
    v13 = FL.build_model("v13")
    load_init(v13, v12.state_dict())
    mine = v13.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in v12.state_dict().items())   # v12's own weights kept
    wide = v13.full_more[0].wide
    assert torch.equal(wide.wx, v12.full.wx) and torch.equal(wide.wy, v12.full.wy)
    assert torch.equal(wide.log_lam, v12.full.log_lam)


def test_gated_step_is_its_narrow_solution_when_closed_its_wide_one_when_open_and_exports_the_same():
    """The gate mixes the two solutions of one set of products: shut (bias far below) it is the
    plain Lucas-Kanade step with its own window and damping, open the step with the wide ones;
    the export's batched band matrices compute what the training-time convolutions do."""
    a, b, _ = shifted_pair(3)
    s = FL.SIZE
    a, b = (torch.from_numpy(v[:s, :s]).float()[None, None] / 64.0 for v in (a, b))
    base = perturbed("v13")
    gated = base.full_more[0]
    narrow, wide = FL.build_model("v12").full_more[0], gated.wide
    narrow.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith(("wide.", "gate_"))})
    flow = torch.randn(1, 2, s, s) * 0.3
    with torch.no_grad():
        for bias, plain in ((-60.0, narrow), (60.0, wide)):
            gated.gate_bias.fill_(bias)
            got, want = gated(a, b, flow)[0], plain(a, b, flow)[0]
            assert torch.allclose(got, want, atol=1e-5), bias
        gated.gate_bias.fill_(0.0)
        g = gated.gate(FL.warp_image(b, flow) - a, torch.ones_like(a))   # it varies with the residual
        assert float(g.min()) < 0.25 and float(g.max()) > 0.75
        trained = gated(a, b, flow)[0]
        gated.eval()
        for step in (gated, gated.wide):
            step.freeze_windows()
        assert torch.allclose(gated(a, b, flow)[0], trained, atol=1e-4)


def test_v14_gate_is_v13s_plus_a_shift_by_the_crops_noise():
    """v14 continues v13 with every weight kept; its gate is v13's plus d (log mean r - ref): a
    crop whose residual is 3x larger everywhere (the same pattern, noisier) is shut by d log 9."""
    from glimpse_train.flow_train import load_init

    v13 = perturbed("v13")
    v14 = FL.build_model("v14")
    load_init(v14, v13.state_dict())
    mine = v14.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in v13.state_dict().items())
    old, new = v13.full_more[0], v14.full_more[0]
    assert new.gate_noise.item() == new.NOISE_WEIGHT < 0 and old.gate_noise is None
    torch.manual_seed(1)
    it, trace = torch.randn(1, 1, 32, 32) * 0.05, torch.rand(1, 1, 32, 32) + 0.5
    with torch.no_grad():
        logit = lambda g: torch.log(g / (1 - g))
        g13, g14 = old.gate(it, trace), new.gate(it, trace)
        mean_r = float((torch.nn.functional.avg_pool2d(torch.nn.functional.pad(it * it, (2, 2, 2, 2), mode="replicate"),
                                                       5, 1) + 1e-6).mean().log())
        assert torch.allclose(logit(g14), logit(g13) + float(new.gate_noise) * (mean_r - new.NOISE_REF), atol=1e-3)
        noisier = new.gate(it * 3, trace)
        assert torch.allclose(logit(noisier), logit(g14) + float(new.gate_noise) * np.log(9.0), atol=2e-2)
        assert float(noisier.mean()) < float(g14.mean())


def test_v16_continues_v14_with_every_weight_but_the_gate_which_starts_at_the_probe_fit():
    from glimpse_train.flow_train import load_init

    v14 = perturbed("v14")
    v16 = FL.build_model("v16")
    load_init(v16, v14.state_dict())
    mine = v16.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in v14.state_dict().items() if ".gate_" not in k)
    gate = v16.full_more[0]
    got = (gate.gate_energy.item(), gate.gate_residual.item(), gate.gate_bias.item())
    assert np.allclose(got, gate.EXPLAINED_START)
    assert {k for k in mine if ".gate_" in k} == {f"full_more.0.gate_{n}" for n in ("energy", "residual", "bias")}


def test_v16_gate_reads_the_wide_solutions_explained_energy_and_the_residual_over_a_box():
    """Oracle: the step's own products, the wide 2x2 systems solved one by one, e = b^T (J +
    lam)^-1 b, both inputs averaged over a 17-px box with a replicated border (avg_pool2d), the
    gate's formula; the step mixes its two solutions by that gate, and exports the same."""
    import torch.nn.functional as F

    a, b, _ = shifted_pair(4)
    s = FL.SIZE
    a, b = (torch.from_numpy(v[:s, :s]).float()[None, None] / 64.0 for v in (a, b))
    step = perturbed("v16").full_more[0]
    flow = torch.randn(1, 2, s, s) * 0.3
    with torch.no_grad():
        _, it, products = step.products(a, b, flow)
        wide = step.wide.window(products)[0].numpy()                          # [5,H,W]
        lam = float(step.wide.damping())
        j = np.stack([np.stack([wide[0] + lam, wide[1]], -1), np.stack([wide[1], wide[2] + lam], -1)], -2)
        rhs = np.stack([wide[3], wide[4]], -1)[..., None]
        energy = (rhs[..., 0] * np.linalg.solve(j, rhs)[..., 0]).sum(-1)      # b^T (J + lam)^-1 b
        k = step.EXPLAINED_BOX

        def box(x):
            return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, 1)

        e = box(torch.from_numpy(np.maximum(energy, 0)).float()[None, None])
        r = box(it * it)
        want = torch.sigmoid(step.gate_energy * ((e + 1e-6).log() + step.ENERGY_OFFSET)
                             + step.gate_residual * ((r + 1e-6).log() + step.RESIDUAL_OFFSET) + step.gate_bias)
        narrow = FL.build_model("v12").full_more[0]
        narrow.load_state_dict({n: v for n, v in step.state_dict().items() if not n.startswith(("wide.", "gate_"))})
        n_flow, w_flow = narrow(a, b, flow)[0], step.wide(a, b, flow)[0]
        mixed = step(a, b, flow)[0]
        assert torch.allclose(mixed, n_flow + want * (w_flow - n_flow), atol=2e-4)
        assert float(want.std()) > 0.01                     # it varies over the crop
        step.eval()
        for part in (step, step.wide):
            part.freeze_windows()
        assert torch.allclose(step(a, b, flow)[0], mixed, atol=1e-4)


def test_a_recipe_can_train_only_some_parameters():
    from glimpse_train.flow_train import RECIPES, trainable

    model = FL.build_model("v16")
    params = trainable(model, RECIPES["v16"]["train_only"])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(params) == 3 and sorted(names) == ["full_more.0.gate_bias", "full_more.0.gate_energy",
                                                  "full_more.0.gate_residual"]
    assert len(trainable(FL.build_model("v16"))) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="no parameter"):
        trainable(model, "nothing_is_called_this")


def test_micro_pairs_are_clean_with_little_head_motion_and_leave_the_other_draws_alone(monkeypatch):
    from glimpse_train import flow_train

    calls = []

    def fake_pair(src, to_crop, rng, **kw):
        calls.append((kw["degraded"], kw["small_head"]))
        rng.random()
        z = np.zeros((FL.SIZE, FL.SIZE), np.float32)
        return z, z, np.zeros((2, FL.SIZE, FL.SIZE), np.float32), np.zeros((2, FL.SIZE, FL.SIZE), np.float32)

    monkeypatch.setattr(flow_train, "make_pair", fake_pair)
    pool = FL.FacePool(images=[np.zeros((4, 4), np.uint8)] * 3, to_crop=[np.eye(3)[:2]] * 3,
                       ids=["a", "b", "c"], held_out=np.zeros(3, bool))
    flow_train.batch(pool, np.arange(3), np.random.default_rng(0), 400, clean_fraction=0.3, small_head=0.2,
                     micro_fraction=0.5)
    micro = [c for c in calls if c == (False, 1.0)]
    assert 150 < len(micro) < 250
    assert all(c in ((True, 0.2), (False, 0.2), (False, 1.0)) for c in calls)
    calls.clear()
    flow_train.batch(pool, np.arange(3), np.random.default_rng(0), 50, clean_fraction=0.3)
    before = list(calls)
    calls.clear()
    flow_train.batch(pool, np.arange(3), np.random.default_rng(0), 50, clean_fraction=0.3, micro_fraction=0.0)
    assert calls == before


def test_step_variants_change_only_the_second_full_resolution_step():
    from glimpse_train.flow_step_variants import VARIANTS, variant

    base = perturbed("v12")
    for name in VARIANTS:
        model = FL.build_model("v12")
        model.load_state_dict(base.state_dict())
        changed = {k for k, v in variant(model, name).state_dict().items() if not torch.equal(v, base.state_dict()[k])}
        step, first = model.full_more[0], model.full
        expect = {"as trained": set(), "first step's window": {"full_more.0.wx", "full_more.0.wy"},
                  "first step's damping": {"full_more.0.log_lam"}}.get(name, {"full_more.0.wx", "full_more.0.wy", "full_more.0.log_lam"})
        assert changed == expect, name
        if "full_more.0.wx" in expect:
            assert torch.equal(step.wx, first.wx[:, :, :, 3:14]) and torch.equal(step.wy, first.wy[:, :, 3:14, :])
        if "full_more.0.log_lam" in expect:
            assert torch.equal(step.log_lam, first.log_lam)


def test_step_variants_pool_the_error_by_expression_motion():
    from glimpse_train.flow_step_variants import by_motion

    truth = np.zeros((2, 2, 4, 4), np.float32)
    local = np.array([[0.3] * 4, [0.7] * 4, [2.0] * 4, [0.0] * 4], np.float32)[None].repeat(2, 0)
    pred = truth + np.array([0.1, 0.0], np.float32)[None, :, None, None]   # 0.1 px off everywhere
    pairs = {"truth": truth, "local": local, "micro": np.array([True, False])}
    assert np.allclose(by_motion(pred, pairs), [0.1, 0.1, 0.1])


def test_local_weight_adds_the_mean_error_over_local_pixels():
    from glimpse_train.flow_train import epe_loss

    truth = torch.zeros(1, 2, 4, 4)
    pred = torch.zeros(1, 2, 4, 4)
    pred[0, 0, 0, :2] = 3.0                    # 3 px off on two of 16 pixels
    local = torch.zeros(1, 4, 4)
    local[0, 0, :4] = 1.0                      # the first row moves locally
    assert abs(float(epe_loss(pred, truth)) - 6 / 16) < 1e-3
    assert abs(float(epe_loss(pred, truth, local, 0.5)) - (6 / 16 + 0.5 * 6 / 4)) < 3e-3   # sqrt(e^2 + 1e-6): 1e-3 on still pixels


def test_slices_and_matmul_compute_what_the_convolutions_did():
    """v3's ONNX-friendly forms (`central_differences`, `conv3x3_by_matmul`, the slice blur) equal
    the convolutions they replace, borders included."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = torch.rand(2, 1, 20, 24) * 255
    kd = torch.tensor([-0.5, 0.0, 0.5])
    gx = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), kd.view(1, 1, 1, 3))
    gy = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), kd.view(1, 1, 3, 1))
    got_x, got_y = FL.central_differences(x)
    assert torch.allclose(got_x, gx, atol=1e-4) and torch.allclose(got_y, gy, atol=1e-4)

    conv = torch.nn.Conv2d(6, 2, 3, 1, 1)
    features = torch.randn(2, 6, 16, 12)
    with torch.no_grad():
        assert torch.allclose(FL.conv3x3_by_matmul(features, conv), conv(features), atol=1e-5)

    net = FL.build_model("v3")
    taps = net.pre
    r = taps.numel() // 2
    blurred = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, r, r), mode="replicate"), taps.view(1, 1, -1, 1))
    assert torch.allclose(net.blur(x), blurred, atol=1e-3)


def test_multi_thread_sessions_do_not_spin_between_runs(tmp_path):
    """Sessions timed in turns must not leave spinning threads behind for the next one's run."""
    torch.manual_seed(0)
    path = tmp_path / "flow.onnx"
    export_flow(FL.build_model("v12"), path)
    entry = "session.intra_op.allow_spinning"
    assert ort_session(path, 2).get_session_options().get_session_config_entry(entry) == "0"
    with pytest.raises(RuntimeError, match=entry):   # one thread: no pool, ONNX Runtime's defaults
        ort_session(path, 1).get_session_options().get_session_config_entry(entry)


def test_flow_time_times_every_model_in_turns():
    from glimpse_train.export import MODELS_DIR
    from glimpse_train.flow_time import time_models

    shipped = MODELS_DIR / "flow.onnx"
    times = time_models([shipped, shipped], threads=1, runs=3)
    assert len(times) == 2 and all(len(t) == 3 and (t > 0).all() for t in times)


def test_bump_width_follows_the_requested_range_and_defaults_to_the_shipped_one():
    rng = np.random.default_rng(3)
    narrow = [s for _ in range(40) for s in FL.random_field(rng, (3.0, 4.0)).sigmas]
    assert narrow and all(3.0 <= s <= 4.0 for s in narrow)
    default = [s for _ in range(40) for s in FL.random_field(rng).sigmas]
    assert min(default) >= FL.SIGMA_PX[0] and max(default) <= FL.SIGMA_PX[1]


def test_a_clean_pair_is_the_rounded_sample_without_degradation():
    from glimpse_train.landmarks import compose, invert

    src = smooth_texture(1)
    to_crop = np.array([[0.55, 0.0, 5.0], [0.0, 0.55, 5.0]])
    a, b, flow, _ = FL.make_pair(src, to_crop, np.random.default_rng(4), degraded=False)
    rng = np.random.default_rng(4)
    crop_to_src = invert(compose(FL.crop_jitter(rng), to_crop))
    ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float64)
    assert np.array_equal(a, np.round(FL.sample(src, crop_to_src, xs, ys)))
    degraded, *_ = FL.make_pair(src, to_crop, np.random.default_rng(4))
    assert not np.array_equal(degraded, a)


def test_a_closing_lid_moves_only_its_skin_and_covers_the_eye():
    """The blink of the training pairs: below the skin band's top and above the lid edge the
    skin moves down (backward undoes forward); the eye the lid covers has no truth (NaN); the eye
    corners, the band's top and everything outside (the brows) stay still."""
    lid = FL.Lid(np.array([[40.0, 50], [45, 47], [55, 47], [60, 50]]), np.array([[40.0, 50], [45, 53], [55, 53], [60, 50]]),
                 skin=6.0, closure=0.8)
    x = np.full(5, 50.0, np.float32)
    y = np.array([30.0, 41.0, 44.0, 49.0, 52.5], np.float32)   # brow, band top, skin, covered, eye left open
    moved = lid.forward(x, y)
    assert moved[0] == 30.0 and moved[1] == 41.0 and moved[4] == 52.5
    assert 44.0 < moved[2] < 51.8 and np.isnan(moved[3])
    assert abs(float(lid.backward(x[2:3], moved[2:3])[0]) - 44.0) < 1e-4
    corners = np.array([40.0, 60.0], np.float32)
    assert np.array_equal(lid.forward(corners, np.array([48.0, 48.0], np.float32)), [48.0, 48.0])


def test_blink_pairs_are_consistent_and_the_default_pairs_unchanged():
    """With `blink_fraction=1` both eyes close: NaN truth only around the eyes, and B warped by
    the truth gives back A elsewhere. With 0, make_pair draws exactly what it always drew."""
    import cv2

    src = smooth_texture(2)
    to_crop = np.array([[0.55, 0.0, 5.0], [0.0, 0.55, 5.0]])
    a, b, flow, local = FL.make_pair(src, to_crop, np.random.default_rng(8), degraded=False, blink_fraction=1.0)
    covered = np.isnan(flow).any(0)
    rows, cols = np.nonzero(covered)
    assert covered.sum() > 20 and 30 <= rows.min() and rows.max() <= 55 and 25 <= cols.min() and cols.max() <= 100
    assert np.array_equal(np.isnan(local).any(0), covered)
    # the same pair without the blink (the lids are drawn after everything else)
    a0, b0, flow0, _ = FL.make_pair(src, to_crop, np.random.default_rng(8), degraded=False)
    assert np.array_equal(a, a0)
    ys, xs = np.mgrid[0:FL.SIZE, 0:FL.SIZE].astype(np.float32)

    def warped_back(b, flow):
        return cv2.remap(b, xs + np.nan_to_num(flow[0]), ys + np.nan_to_num(flow[1]), cv2.INTER_LINEAR)

    lids = (np.abs(np.nan_to_num(flow[1] - flow0[1])) > 0.3) & ~covered         # the moving lid skin
    grown = cv2.dilate(covered.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # bilinear reach of the edge
    inner = np.zeros_like(covered)
    inner[12:-12, 12:-12] = True
    blink_error = np.abs(warped_back(b, flow) - a)[inner & ~grown].mean()
    assert blink_error < np.abs(warped_back(b0, flow0) - a)[inner & ~grown].mean() + 0.05
    assert lids.sum() > 20 and np.abs(b - a)[lids & ~grown].mean() > 3 * np.abs(warped_back(b, flow) - a)[lids & ~grown].mean()
    plain = FL.make_pair(src, to_crop, np.random.default_rng(8))
    again = FL.make_pair(src, to_crop, np.random.default_rng(8), blink_fraction=0.0)
    assert all(np.array_equal(p, q) for p, q in zip(plain, again))


def test_covered_pixels_are_left_out_of_the_loss():
    from glimpse_train.flow_train import epe_loss

    truth = torch.zeros(1, 2, 4, 4)
    pred = torch.zeros(1, 2, 4, 4)
    pred[0, 0, 0, 0] = 5.0                     # wrong only where the lid covers the eye
    valid = torch.ones(1, 4, 4)
    valid[0, 0, 0] = 0.0
    assert float(epe_loss(pred, truth, valid=valid)) < 2e-3 < float(epe_loss(pred, truth))


def test_forehead_bumps_sit_above_the_brows_and_leave_the_default_draws_alone():
    forehead = FL.forehead_points()
    brows = FL.TEMPLATE[17:27]
    assert forehead.shape == (10, 2) and np.allclose(forehead[:, 0], brows[:, 0])
    rise = brows[:, 1] - forehead[:, 1]
    assert np.allclose(rise, rise[0]) and 10 < rise[0] < 20 and (forehead[:, 1] > 0).all()   # in the crop
    near = lambda field: [np.linalg.norm(forehead - c, axis=1).min() < 10 for c in field.centres]
    with_forehead = [hit for i in range(200) for hit in near(FL.random_field(np.random.default_rng(i), forehead=True))]
    without = [hit for i in range(200) for hit in near(FL.random_field(np.random.default_rng(i)))]
    assert sum(with_forehead) > 3 * max(sum(without), 1)
    # without the option the generator draws exactly what it always drew
    plain = FL.random_field(np.random.default_rng(5))
    again = FL.random_field(np.random.default_rng(5), forehead=False)
    assert np.array_equal(plain.centres, again.centres) and np.array_equal(plain.vectors, again.vectors)


def test_vertical_brow_bumps_move_up_or_down_and_leave_the_default_draws_alone():
    def brow_angles(vertical):
        angles = []
        for i in range(300):
            field = FL.random_field(np.random.default_rng(i), forehead=True, vertical_brows=vertical)
            for c, v in zip(field.centres, field.vectors):
                near_brows = np.linalg.norm(np.vstack([FL.TEMPLATE[17:27], FL.forehead_points()]) - c, axis=1).min() < 4
                if near_brows and np.linalg.norm(v) > 0:
                    angles.append(abs(np.degrees(np.arctan2(abs(v[1]), abs(v[0])))))   # 90 = vertical
        return np.array(angles)

    plain, vertical = brow_angles(0.0), brow_angles(1.0)
    assert (vertical >= 90 - FL.VERTICAL_SPREAD_DEG - 1e-6).all() and len(vertical) > 50
    assert (plain < 45).mean() > 0.3        # any direction without the option
    a = FL.random_field(np.random.default_rng(5), forehead=True)
    b = FL.random_field(np.random.default_rng(5), forehead=True, vertical_brows=0.0)
    assert np.array_equal(a.centres, b.centres) and np.array_equal(a.vectors, b.vectors)


def test_brow_actions_raise_or_lower_the_brows_towards_the_midline_and_leave_the_default_draws_alone():
    raised, lowered = [], []
    for i in range(300):
        field = FL.random_field(np.random.default_rng(i), forehead=True, brow_actions=1.0)
        for c, v in zip(field.centres, field.vectors):
            near_brows = np.linalg.norm(np.vstack([FL.TEMPLATE[17:27], FL.forehead_points()]) - c, axis=1).min() < 4
            if near_brows and np.linalg.norm(v) > 0:
                (raised if v[1] < 0 else lowered).append((c, v))
    assert len(raised) > 20 and len(lowered) > 20
    for c, v in raised:   # up, within the vertical spread
        assert np.degrees(np.arctan2(abs(v[0]), -v[1])) <= FL.VERTICAL_SPREAD_DEG + 1e-6
    lo, hi = FL.BROW_LOWERER_TILT_DEG
    for c, v in lowered:  # down, turned towards the midline
        tilt = np.degrees(np.arctan2(abs(v[0]), v[1]))
        assert lo - 1e-6 <= tilt <= hi + 1e-6
        assert np.sign(v[0]) == np.sign(FL.MIDLINE_X - c[0])
    a = FL.random_field(np.random.default_rng(5), forehead=True)
    b = FL.random_field(np.random.default_rng(5), forehead=True, brow_actions=0.0)
    assert np.array_equal(a.centres, b.centres) and np.array_equal(a.vectors, b.vectors)


def test_small_head_pairs_scale_only_the_head_motion_and_leave_the_default_draws_alone():
    def fields(share):
        return [FL.random_field(np.random.default_rng(i), forehead=True, small_head=share) for i in range(60)]

    usual, small, none = fields(0.0), fields(1.0), [FL.random_field(np.random.default_rng(i), forehead=True)
                                                    for i in range(60)]
    assert all(np.array_equal(a.g, b.g) and np.array_equal(a.vectors, b.vectors) for a, b in zip(usual, none))
    moving = [(a, b) for a, b in zip(usual, small) if not np.allclose(a.g, np.eye(3)[:2])]
    assert len(moving) > 40
    for a, b in moving:   # the same bumps; the head's shift, turn and scale at SMALL_HEAD_SCALE
        assert np.array_equal(a.vectors, b.vectors) and np.array_equal(a.centres, b.centres)
        assert np.allclose(b.g - np.eye(3)[:2], (a.g - np.eye(3)[:2]) * FL.SMALL_HEAD_SCALE, atol=0.02)


def test_v6_pyramid_blurs_before_it_averages():
    """The binomial blur keeps flat and linear images (away from the border) and removes the
    finest stripes, which a plain 2x2 average would alias; v6 has v4's parameters."""
    y, x = np.mgrid[0:16, 0:16].astype(np.float32)
    ramp = torch.from_numpy(3 * x + 2 * y + 5)[None, None]
    assert torch.allclose(FL.binomial_blur(ramp)[..., 1:-1, 1:-1], ramp[..., 1:-1, 1:-1])
    stripes = torch.from_numpy(np.where(x % 2 == 0, 1.0, -1.0).astype(np.float32))[None, None]
    assert FL.binomial_blur(stripes)[..., 1:-1, 1:-1].abs().max() < 1e-6
    v4, v6 = FL.build_model("v4"), FL.build_model("v6")
    assert [p.shape for p in v4.parameters()] == [p.shape for p in v6.parameters()]
    assert v6.antialias and not v4.antialias


def test_refinement_cleans_a_blotchy_estimate_as_the_rust_side_does():
    """`Classical.refine` (the Python twin of `RefinedFlow`, `--flow onnx-vr`): a texture moved
    0.6 px right, an estimate with a blotchy error on top; one iteration halves the error."""
    n = 96
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)

    def texture(shift):
        return np.round(127.5 + 60 * np.sin(0.21 * (x - shift) + 0.13 * y) + 40 * np.cos(0.17 * y - 0.09 * (x - shift)))

    blotch = 0.3 * np.sin(x * 0.35) * np.cos(y * 0.29)
    estimate = np.stack([0.6 + blotch, blotch.T]).astype(np.float32)
    truth = np.stack([np.full((n, n), 0.6), np.zeros((n, n))])
    inner = (slice(None), slice(16, 80), slice(16, 80))
    refined = FL.Classical().refine(texture(0.0), texture(0.6), estimate)
    assert refined.shape == estimate.shape
    assert FL.epe(refined[inner], truth[inner]) < 0.7 * FL.epe(estimate[inner], truth[inner])


def test_synthetic_pairs_load_and_score_as_the_rust_side_pools_them(tmp_path):
    """The layout `glimpse eval flow --save-pairs` writes; the scores pool pixels, micro pairs' local
    pixels only for `local`, NaN truth left out."""
    import json

    from glimpse_train.flow_synth_eval import load_pairs, scores

    n, s = 3, 8
    rng = np.random.default_rng(0)
    previous = rng.integers(0, 256, (n, s, s), dtype=np.uint8)
    truth = rng.normal(0, 1, (n, 2, s, s)).astype("<f4")
    truth[0, :, 0, 0] = np.nan
    local = np.zeros((n, s, s), "<f4")
    local[0, :4] = 1.0        # micro pair 0: its top half moves locally
    local[2] = 1.0            # pair 2 is neutral: its local values do not count
    micro = np.array([1, 1, 0], np.uint8)
    for name, values in [("previous.u8", previous), ("current.u8", previous[::-1]), ("truth.f32", truth),
                         ("local.f32", local), ("micro.u8", micro)]:
        values.tofile(tmp_path / name)
    (tmp_path / "pairs.json").write_text(json.dumps({"pairs": n, "side": s, "local_px": 0.2}))
    pairs = load_pairs(tmp_path)
    assert pairs["x"].shape == (n, 2, s, s) and (pairs["x"][:, 1] == previous[::-1]).all()
    assert pairs["micro"].tolist() == [True, True, False]

    pred = np.nan_to_num(truth) + np.array([0.3, 0.4], np.float32)[None, :, None, None]   # off by 0.5 px everywhere
    pred[2] += 1.0                                                                    # the neutral pair worse
    r = scores(pred, pairs)
    assert abs(r["epe_local"] - 0.5) < 1e-5
    assert abs(r["epe_neutral"] - np.hypot(1.3, 1.4)) < 1e-5
    known = 3 * s * s - 1
    assert abs(r["epe_all"] - (0.5 * (2 * s * s - 1) + np.hypot(1.3, 1.4) * s * s) / known) < 1e-5

    (tmp_path / "local.f32").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="local.f32"):
        load_pairs(tmp_path)


def test_several_pair_folders_pool_as_one_and_must_agree_on_side_and_threshold(tmp_path):
    import json

    from glimpse_train.flow_synth_eval import joined_pairs, scores

    s = 8
    for k, (n, first) in enumerate([(2, 101), (3, 104)]):
        folder = tmp_path / str(k)
        folder.mkdir()
        rng = np.random.default_rng(k)
        for name, values in [("previous.u8", rng.integers(0, 256, (n, s, s), dtype=np.uint8)),
                             ("current.u8", rng.integers(0, 256, (n, s, s), dtype=np.uint8)),
                             ("truth.f32", rng.normal(0, 1, (n, 2, s, s)).astype("<f4")),
                             ("local.f32", rng.uniform(0, 1, (n, s, s)).astype("<f4")),
                             ("micro.u8", np.array([1, 0, 1][:n], np.uint8))]:
            values.tofile(folder / name)
        (folder / "pairs.json").write_text(json.dumps({"pairs": n, "side": s, "local_px": 0.2,
                                                       "evaluation": {"first_seed": first, "seeds": n}}))
    joined = joined_pairs([tmp_path / "0", tmp_path / "1"])
    assert joined["x"].shape == (5, 2, s, s) and joined["micro"].tolist() == [True, False, True, False, True]
    assert joined["meta"]["seed_ranges"] == ["101..102", "104..106"]
    pred = np.zeros((5, 2, s, s), np.float32)
    one = [joined_pairs([tmp_path / str(k)]) for k in (0, 1)]
    e = [np.sqrt((p["truth"] ** 2).sum(1)) for p in one]     # pooled over pixels, not averaged per folder
    assert abs(scores(pred, joined)["epe_all"] - np.concatenate([x.ravel() for x in e]).mean()) < 1e-5
    meta = json.loads((tmp_path / "1" / "pairs.json").read_text())
    (tmp_path / "1" / "pairs.json").write_text(json.dumps(dict(meta, local_px=0.5)))
    with pytest.raises(ValueError, match="local_px"):
        joined_pairs([tmp_path / "0", tmp_path / "1"])


def test_v7_local_global_step_reaches_textureless_skin_and_is_lucas_kanade_without_the_pull():
    """v7's Jacobi sweeps carry the motion of the textured left half into a flat right half, where
    a Lucas-Kanade step (v6's) leaves the flow at its start; with the pull weight near zero the
    two steps agree."""
    torch.manual_seed(0)
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    tex = lambda x, y: np.where(x < 12, 40 * np.sin(0.9 * x) * np.cos(0.7 * y), 0.0)
    a = torch.from_numpy(tex(x, y)).float()[None, None]
    b = torch.from_numpy(tex(x - 0.5, y)).float()[None, None]   # shifted 0.5 px right
    lk, clg = FL.build_model("v6").steps[1][0], FL.build_model("v7").steps[1][0]
    assert clg.smooth_iters == 4 and lk.smooth_iters == 0
    zero = torch.zeros(1, 2, 32, 32)
    with torch.no_grad():
        clg.log_smooth.fill_(np.log(0.5))
        flat = (slice(None), 0, slice(8, 24), slice(21, 23))   # beyond the window's reach of the texture
        lk_flat = lk(a, b, zero)[0][flat].mean().item()
        clg_flat = clg(a, b, zero)[0][flat].mean().item()
        assert abs(lk_flat) < 0.01 and clg_flat > 0.05
        clg.log_smooth.fill_(np.log(1e-7))
        assert torch.allclose(clg(a, b, zero)[0], lk(a, b, zero)[0], atol=1e-3)


def test_row_bands_split_the_error_along_and_across_the_true_motion():
    """A vertical true motion estimated with a horizontal error is all 'across'; one too long is
    'along' with a positive mean; the bands count only the micro pairs' local pixels."""
    from glimpse_train.flow_synth_eval import row_bands

    n, s = 2, 16
    truth = np.zeros((n, 2, s, s), np.float32)
    truth[:, 1] = -0.5                                   # everything moves up 0.5 px
    pred = truth.copy()
    pred[:, 0, :8] += 0.2                                # top half: 0.2 px sideways
    pred[:, 1, 8:] -= 0.1                                # bottom half: 0.1 px too far up
    local = np.ones((n, s, s), np.float32)
    pairs = {"truth": truth, "local": local, "micro": np.array([True, False]), "meta": {"local_px": 0.2}}
    top, bottom = row_bands(pred, pairs, bands=((0, 8), (8, 16)))
    assert top["rows"] == "0-7" and abs(top["share"] - 0.5) < 1e-9
    assert abs(top["across_rms"] - 0.2) < 1e-6 and abs(top["along_rms"]) < 1e-6 and abs(top["epe"] - 0.2) < 1e-6
    assert abs(bottom["along_mean"] - 0.1) < 1e-6 and abs(bottom["across_rms"]) < 1e-6


def test_row_bands_measure_how_much_horizontal_motion_is_given_back():
    from glimpse_train.flow_synth_eval import row_bands

    rng = np.random.default_rng(0)
    truth = rng.normal(0, 0.5, (3, 2, 16, 16)).astype(np.float32)
    pred = truth.copy()
    pred[:, 0] *= 0.6                                    # 60 % of the horizontal motion
    pairs = {"truth": truth, "local": np.ones((3, 16, 16), np.float32), "micro": np.ones(3, bool),
             "meta": {"local_px": 0.0}}
    (band,) = row_bands(pred, pairs, bands=((0, 16),))
    assert abs(band["u_gain"] - 0.6) < 1e-4 and band["v_rms"] < 1e-6
    assert abs(band["u_rms"] - np.sqrt(((0.4 * truth[:, 0]) ** 2).mean())) < 1e-5


def test_a_non_finite_step_is_skipped_and_a_finite_one_taken():
    from glimpse_train.flow_train import update

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.ones(1, 2)
    assert not update(model, opt, model(x).sum() * float("nan"), 5.0)
    finite_loss = (model(x) * 0).sqrt().sum()   # 0, with a NaN gradient (d sqrt at 0 times 0)
    assert torch.isfinite(finite_loss)
    assert not update(model, opt, finite_loss, 5.0)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert update(model, opt, model(x).sum(), 5.0)
    assert all(torch.isfinite(p).all() and not torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_pair_errors_splits_the_pairs_as_flow_eval_reports_them():
    """All pixels of every pair; local pixels (>= LOCAL_PX) binned by the pair's peak local
    motion; the whole crop of pairs without local motion counted as still only when none moves."""
    from glimpse_train.flow_eval import pair_errors

    h = w = 8
    truth = np.zeros((2, h, w), np.float32)
    local_small = np.zeros((2, h, w), np.float32)
    local_small[0, :2, :2] = 0.5                     # peak 0.5 px: bin 0.2-1, 4 local pixels
    local_big = np.zeros((2, h, w), np.float32)
    local_big[1, 0, 0] = 3.0                         # peak 3 px: bin 2-4, one local pixel
    local_tiny = np.zeros((2, h, w), np.float32)
    local_tiny[0, 0, 0] = 0.1                        # below LOCAL_PX but not still
    still = np.zeros((2, h, w), np.float32)
    pairs = [(None, k, None, truth, loc) for k, loc in enumerate((local_small, local_big, local_tiny, still))]

    def fn(k, _):   # error 0.1 * (k + 1) px everywhere, and 1 px more on pair 0's local pixels
        pred = np.full((2, h, w), 0.0, np.float32)
        pred[0] = 0.1 * (k + 1)
        if k == 0:
            pred[0, :2, :2] += 1.0
        return pred

    rows = pair_errors(fn, pairs)
    assert np.allclose(rows["all"], [0.1 + 4 / 64, 0.2, 0.3, 0.4])
    assert np.allclose(rows["local"], [1.1, 0.2])
    assert np.allclose(rows["bins"]["0.2-1"], [1.1]) and rows["bins"]["1-2"] == [] and np.allclose(rows["bins"]["2-4"], [0.2])
    assert np.allclose(rows["still"], [0.4])
