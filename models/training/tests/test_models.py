import numpy as np
import torch

from glimpse_train.models import (ARCHS, ChannelCorrespondenceConv, FullyConnectedConv, STSTNet,
                                  circular_conv_h, circular_conv_w, n_params)
from glimpse_train.train import augment


def test_shapes_and_params():
    x = torch.rand(5, 3, 28, 28) * 255
    for name, cls in ARCHS.items():
        m = cls().eval()
        assert m(x).shape == (5, 3), name
    assert n_params(STSTNet()) == 1683
    assert set(STSTNet().state_dict()) >= {"conv1.weight", "bn3.running_var", "fc.weight"}


def test_circular_conv_is_translation_equivariant():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 9)
    wh, ww = torch.randn(4, 1, 7, 1), torch.randn(4, 1, 1, 9)
    for sh, sw in [(1, 0), (3, 2), (0, 5)]:
        xs = torch.roll(x, (sh, sw), dims=(2, 3))
        for f, w in [(circular_conv_h, wh), (circular_conv_w, ww)]:
            torch.testing.assert_close(f(xs, w), torch.roll(f(x, w), (sh, sw), dims=(2, 3)))


def test_circular_conv_kernel_spans_whole_map():
    x = torch.zeros(1, 1, 7, 1)
    x[0, 0, 5, 0] = 1.0
    w = torch.arange(1.0, 8.0).reshape(1, 1, 7, 1)
    y = circular_conv_h(x, w)[0, 0, :, 0]
    # out[i] = w[(5 - i) mod 7]: every output row sees the impulse
    assert torch.equal(y, torch.tensor([w[0, 0, (5 - i) % 7, 0] for i in range(7)]))


def test_fcconv_equivariant_without_positional_embedding():
    torch.manual_seed(0)
    m = FullyConnectedConv(8, 7, 7).eval()
    m.use_pe = False
    x = torch.randn(2, 8, 7, 7)
    xs = torch.roll(x, (2, 3), dims=(2, 3))
    torch.testing.assert_close(m(xs), torch.roll(m(x), (2, 3), dims=(2, 3)))
    # with (non-zero) positional embeddings the block knows where it is
    with torch.no_grad():
        m.pe_h1.normal_()
    m.use_pe = True
    assert not torch.allclose(m(xs), torch.roll(m(x), (2, 3), dims=(2, 3)), atol=1e-4)


def test_channel_correspondence_neighbours_and_permutation():
    torch.manual_seed(0)
    m = ChannelCorrespondenceConv(6, 4, 4, k=2).eval()
    base = torch.randn(3, 16)
    # channels 0,1,2 are near-copies of three patterns, 3,4,5 of the same three
    f = torch.cat([base, base + 0.01 * torch.randn(3, 16)]).unsqueeze(0)
    idx = m.neighbours(f)[0]
    for i in range(6):
        assert (i + 3) % 6 in idx[i].tolist() and i not in idx[i].tolist()
    # node (channel) permutation equivariance
    x = torch.randn(2, 6, 4, 4)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(m(x[:, perm]), m(x)[:, perm])


def test_flip_augmentation_negates_u():
    x = torch.rand(64, 3, 28, 28) * 255
    g = torch.Generator().manual_seed(0)
    y = augment(x, g, flip=True, shift=0)
    flipped = [i for i in range(64) if not torch.equal(y[i], x[i])]
    assert flipped
    i = flipped[0]
    torch.testing.assert_close(y[i, 0], x[i, 0].flip(1))
    torch.testing.assert_close(y[i, 2], 255 - x[i, 2].flip(1))


def test_ensemble_recipe_trains_members_with_their_own_seeds():
    from glimpse_train.train import MEMBER_SEED_STRIDE, RECIPES, Ensemble, train_model, train_network

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (12, 3, 28, 28)).astype(np.float32)
    y = np.arange(12) % 3
    r = dict(RECIPES["f5cnet_v2"], epochs=1)
    ens = train_model("f5cnet_v2", x, y, seed=7, recipe=r)
    assert isinstance(ens, Ensemble) and len(ens.members) == r["members"]
    single = train_network(r, x, y, seed=7 + MEMBER_SEED_STRIDE)
    for a, b in zip(ens.members[1].state_dict().values(), single.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(ens.members[0].fc.weight, ens.members[1].fc.weight)


def test_mirror_average_is_invariant_to_mirroring_and_v3_trains_with_mixup():
    """A v3 model's prediction is the mean over the input and its mirror image, so the mirror
    image gets the same prediction; mixup changes what one epoch learns but stays reproducible."""
    from glimpse_train.train import RECIPES, Ensemble, mirrored, train_model

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (12, 3, 28, 28)).astype(np.float32)
    y = np.arange(12) % 3
    r = dict(RECIPES["f5cnet_v3"], epochs=1, members=2)
    ens = train_model("f5cnet_v3", x, y, seed=7, recipe=r)
    assert isinstance(ens, Ensemble) and ens.mirror_average
    xt = torch.from_numpy(x)
    again = train_model("f5cnet_v3", x, y, seed=7, recipe=r)
    plain = train_model("f5cnet_v3", x, y, seed=7, recipe=dict(r, mixup=0.0))
    with torch.no_grad():
        torch.testing.assert_close(ens(mirrored(xt)), ens(xt), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mirrored(mirrored(xt)), xt)
        torch.testing.assert_close(again(xt), ens(xt))
        assert not torch.allclose(plain.members[0](xt), ens.members[0](xt))


def test_f5cnet_regions_starts_as_the_f5cnet_whose_weights_it_loads():
    """The regional branch's output layer starts at zero, so with F5CNet's weights loaded (the
    pretrained start) the network gives F5CNet's logits; F5CNet's weights leave only the
    regional parts missing."""
    import torch

    from glimpse_train.models import F5CNet, F5CNetRegions

    torch.manual_seed(0)
    base, regions = F5CNet().eval(), F5CNetRegions().eval()
    missing, unexpected = regions.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("region_") for k in missing)
    x = torch.rand(4, 3, 28, 28) * 255
    with torch.no_grad():
        assert torch.allclose(regions(x), base(x), atol=1e-6)
        regions.region_fc.weight.normal_()
        assert not torch.allclose(regions(x), base(x), atol=1e-3)


def test_f5cnet_regions_keeps_each_window_in_its_place():
    """Each window's features come from its own 16x16 patch: changing the pixels only in the
    lower-right corner (outside the other three windows) changes only that window's features."""
    import torch

    from glimpse_train.models import F5CNetRegions

    torch.manual_seed(1)
    m = F5CNetRegions().eval()
    x = torch.rand(2, 3, 28, 28)
    y = x.clone()
    y[:, :, 16:, 16:] += 1.0
    with torch.no_grad():
        a, b = m.regions(x).view(2, 4, -1), m.regions(y).view(2, 4, -1)
    assert a.shape == (2, 4, m.FEATURES)
    assert torch.equal(a[:, :3], b[:, :3]) and not torch.allclose(a[:, 3], b[:, 3])
