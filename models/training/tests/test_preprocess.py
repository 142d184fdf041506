import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from glimpse_train.make_fixture import make_pair
from glimpse_train.preprocess import area_resize, flow_to_tensor, minmax255, optical_strain, preprocess, tvl1_flow

FIX = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def fixture():
    return json.loads((FIX / "preprocess_pair.json").read_text())


def test_fixture_pngs_are_the_formula(fixture):
    onset, apex = make_pair()
    np.testing.assert_array_equal(cv2.imread(str(FIX / fixture["onset_png"]), cv2.IMREAD_GRAYSCALE), onset)
    np.testing.assert_array_equal(cv2.imread(str(FIX / fixture["apex_png"]), cv2.IMREAD_GRAYSCALE), apex)


def test_flow_to_tensor_matches_fixture(fixture):
    t = flow_to_tensor(np.array(fixture["flow"], dtype=np.float64))
    exp = np.array(fixture["tensor"], dtype=np.float32)
    assert t.shape == (3, 28, 28) and t.dtype == np.float32
    np.testing.assert_allclose(t, exp, atol=1e-4, rtol=0)
    assert (t.min(axis=(1, 2)) == 0).all() and np.allclose(t.max(axis=(1, 2)), 255)


def test_tvl1_flow_close_to_fixture(fixture):
    onset = cv2.imread(str(FIX / fixture["onset_png"]), cv2.IMREAD_GRAYSCALE)
    apex = cv2.imread(str(FIX / fixture["apex_png"]), cv2.IMREAD_GRAYSCALE)
    flow = tvl1_flow(onset, apex)
    ref = np.array(fixture["flow"], dtype=np.float32)
    tol = 1e-5 if cv2.__version__ == fixture["opencv_version"] else 0.05
    np.testing.assert_allclose(flow, ref, atol=tol)
    # the synthetic brow moves up and the mouth corner right: v most negative near (x 22, y 18)
    y, x = np.unravel_index(np.argmin(flow[..., 1]), flow.shape[:2])
    assert abs(x - 22) <= 6 and abs(y - 18) <= 6
    assert preprocess(onset, apex).shape == (3, 28, 28)


def test_area_resize_is_cv2_inter_area():
    a = np.random.default_rng(1).random((64, 57)).astype(np.float32)
    np.testing.assert_allclose(area_resize(a), cv2.resize(a, (28, 28), interpolation=cv2.INTER_AREA), atol=1e-5)
    b = np.arange(56 * 56, dtype=np.float64).reshape(56, 56)
    np.testing.assert_allclose(area_resize(b), b.reshape(28, 2, 28, 2).mean(axis=(1, 3)))


def test_strain_of_linear_flow():
    y, x = np.mgrid[0:20, 0:20].astype(np.float64)
    u, v = 0.1 * x + 0.02 * y, -0.05 * y + 0.04 * x
    s = optical_strain(u, v)
    np.testing.assert_allclose(s, np.sqrt(0.1 ** 2 + 0.05 ** 2 + 0.5 * (0.02 + 0.04) ** 2))
    assert minmax255(np.ones((3, 3))).max() == 0
