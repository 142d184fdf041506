import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glimpse_train.export import export_onnx, golden_inputs, ort_session
from glimpse_train.models import F5CNet, F5CNetRegions, STSTNet
from glimpse_train.train import Ensemble

MODELS = Path(__file__).resolve().parents[2]


def f5cnet_ensemble():
    return Ensemble([F5CNet(), F5CNet(), F5CNet()])


def regions_with_a_live_branch():
    """F5CNetRegions whose regional output layer is not zero, so that the branch shows in the export."""
    m = F5CNetRegions()
    with torch.no_grad():
        m.region_fc.weight.normal_()
    return m


@pytest.mark.parametrize("cls", [F5CNet, STSTNet, f5cnet_ensemble, regions_with_a_live_branch])
def test_onnx_round_trip(tmp_path, cls):
    torch.manual_seed(0)
    m = cls().eval()
    p = tmp_path / "m.onnx"
    export_onnx(m, p)
    x = golden_inputs()
    sess = ort_session(p)
    assert sess.get_inputs()[0].name == "motion" and sess.get_outputs()[0].name == "logits"
    got = sess.run(["logits"], {"motion": x})[0]
    ref = m(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)
    # dynamic batch
    assert sess.run(["logits"], {"motion": x[:1]})[0].shape == (1, 3)


@pytest.mark.skipif(not (MODELS / "mer.onnx").exists(), reason="models/mer.onnx not exported yet")
def test_shipped_model_matches_golden():
    g = json.loads((MODELS / "mer.golden.json").read_text())
    x = np.array(g["inputs"], dtype=np.float32)
    np.testing.assert_array_equal(x, golden_inputs())  # the formula reproduces the stored inputs
    sess = ort_session(MODELS / "mer.onnx")
    got = sess.run(["logits"], {"motion": x})[0]
    np.testing.assert_allclose(got, np.array(g["logits"]), atol=g["tolerance"])
    shp = sess.get_inputs()[0].shape
    assert shp[1:] == [3, 28, 28]


def test_ensemble_output_softmax_is_the_members_mean_probability():
    torch.manual_seed(1)
    members = [F5CNet().eval(), STSTNet().eval()]
    x = torch.from_numpy(golden_inputs())
    with torch.no_grad():
        got = torch.softmax(Ensemble(members).eval()(x), dim=1)
        want = (torch.softmax(members[0](x), 1) + torch.softmax(members[1](x), 1)) / 2
    torch.testing.assert_close(got, want)
