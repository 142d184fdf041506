import numpy as np
import pytest

from glimpse_train.metrics import confusion, summary, uf1_uar


def test_perfect():
    y = [0, 1, 2, 0, 1, 2]
    assert uf1_uar(y, y) == (1.0, 1.0)


def test_hand_case():
    # truth: 4 neg, 2 pos, 2 sur
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 0, 2, 0])
    # neg: TP3 FP2 FN1 -> F1 6/9 ; pos: TP1 FP1 FN1 -> 2/4 ; sur: TP1 FP0 FN1 -> 2/3
    f1, uar = uf1_uar(y, p)
    assert f1 == pytest.approx((6 / 9 + 0.5 + 2 / 3) / 3)
    assert uar == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    assert confusion(y, p).tolist() == [[3, 1, 0], [1, 1, 0], [1, 0, 1]]


def test_all_one_class():
    y = [0, 0, 1, 2]
    p = [0, 0, 0, 0]
    f1, uar = uf1_uar(y, p)
    # neg F1 = 4/6, pos and sur F1 = 0
    assert f1 == pytest.approx((4 / 6) / 3)
    assert uar == pytest.approx(1 / 3)


def test_composite_is_not_mean_of_datasets():
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([0, 1, 2, 1, 1, 1])
    d = np.array(["a", "a", "a", "b", "b", "b"])
    s = summary(y, p, d)
    assert s["a"]["uf1"] == 1.0
    assert s["overall"]["n"] == 6
    assert s["overall"]["uf1"] == pytest.approx(uf1_uar(y, p)[0])
