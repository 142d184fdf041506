import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glimpse_train.export import export_onnx, golden_inputs, ort_session
from glimpse_train.models import F5CNet, STSTNet

MODELS = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cls", [F5CNet, STSTNet])
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
