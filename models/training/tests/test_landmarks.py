import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glimpse_train import landmarks as L
from glimpse_train.landmarks_export import ASTRONAUT_BOX, export_landmarks, golden_crops
from glimpse_train.export import ort_session

MODELS = Path(__file__).resolve().parents[2]


def test_template_is_parsed_from_rust_and_eyes_are_level():
    assert L.TEMPLATE.shape == (68, 2)
    assert abs(L.TEMPLATE[36:42, 1].mean() - L.TEMPLATE[42:48, 1].mean()) < 0.5
    assert L.HAAR_SCALE > 50 and L.HAAR_OFFSET.shape == (2,)
    # the model crop keeps the whole template inside, with margin
    assert L.TEMPLATE_CROP.min() > 8 and L.TEMPLATE_CROP.max() < L.CROP - 8


def test_flip_table_is_an_involution_that_mirrors_the_mean_shape():
    assert sorted(L.FLIP.tolist()) == list(range(68))
    assert (L.FLIP[L.FLIP] == np.arange(68)).all()
    mirrored = L.TEMPLATE.copy()
    mirrored[:, 0] = 128 - mirrored[:, 0]
    assert np.abs(mirrored[L.FLIP] - L.TEMPLATE).max() < 3.0


def test_similarity_fit_compose_invert():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 100, (68, 2))
    true = np.array([[0.8, -0.3, 5.0], [0.3, 0.8, -2.0]])
    m = L.fit_similarity(p, L.apply(true, p))
    np.testing.assert_allclose(m, true, atol=1e-9)
    np.testing.assert_allclose(L.apply(L.compose(L.invert(m), m), p), p, atol=1e-9)
    # the box similarity puts the box centre where the calibration says
    b = L.box_similarity([10, 20, 100, 100])
    np.testing.assert_allclose(L.apply(b, np.array([[60.0, 70.0]]))[0], L.HAAR_OFFSET, atol=1e-9)


def test_sample_targets_follow_the_warp():
    """Bright dots drawn at the points end up at the target positions in the crop."""
    rng = np.random.default_rng(1)
    img = np.zeros((300, 300), np.uint8)
    pts = L.TEMPLATE * 1.6 + 40
    for x, y in pts[[8, 30, 36, 45]]:
        img[int(round(y)), int(round(x))] = 255
    import cv2

    img = cv2.GaussianBlur(img, (0, 0), 3)
    for _ in range(5):
        crop, target = L.make_sample(img, pts, rng, augment=False)
        for i in (8, 30, 36, 45):
            x, y = target[i]
            r = 4
            win = crop[int(y) - r:int(y) + r + 1, int(x) - r:int(x) + r + 1]
            assert win.size and win.max() >= crop.max() * 0.5


def test_mirror_keeps_subject_sides():
    rng = np.random.default_rng(3)
    img = np.full((200, 200), 128, np.uint8)
    pts = L.TEMPLATE + 36
    for _ in range(20):
        _, t = L.make_sample(img, pts, rng)
        assert t[36, 0] < t[45, 0], "subject's right eye stays on the image's left"


def test_mesh_map_recovers_a_known_combination():
    rng = np.random.default_rng(2)
    meshes = rng.normal(0, 30, (50, 468, 2)) + 100
    truth = np.zeros((50, 68, 2))
    for i in range(68):
        truth[:, i] = 0.7 * meshes[:, i] + 0.3 * meshes[:, i + 100]
    truth[:, 36] = meshes[:, 0] - [40, 0]
    truth[:, 45] = meshes[:, 0] + [40, 0]
    mp = L.fit_mesh_map(meshes, truth, k=2)
    err = L.nme(mp(meshes), truth)
    assert np.median(err) < 0.2
    round_trip = L.MeshMap.from_json(json.loads(json.dumps(mp.to_json())))
    np.testing.assert_allclose(round_trip(meshes[0]), mp(meshes[0]), atol=1e-3)


def test_network_and_onnx_round_trip(tmp_path):
    torch.manual_seed(0)
    m = L.build_model().eval()
    x = golden_crops()
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    assert ref.shape == (2, 68, 2) and (ref >= 0).all() and (ref <= L.CROP).all()
    p = tmp_path / "lm.onnx"
    export_landmarks(m, p)
    sess = ort_session(p)
    assert sess.get_inputs()[0].name == "face" and sess.get_inputs()[0].shape[1:] == [1, L.CROP, L.CROP]
    assert sess.get_outputs()[0].name == "points" and sess.get_outputs()[0].shape[1:] == [68, 2]
    np.testing.assert_allclose(sess.run(["points"], {"face": x})[0], ref, atol=1e-3)
    # per-crop standardisation: brightness and contrast changes do not move the points
    np.testing.assert_allclose(sess.run(["points"], {"face": x * 0.5 + 20})[0], ref, atol=1e-2)


def test_flip_average_is_mirror_symmetric_and_exports(tmp_path):
    """The shipped graph averages the crop and its mirror: a mirrored crop gives the mirrored
    points (x -> S - 1 - x, sides swapped through FLIP), in torch and through onnxruntime."""
    torch.manual_seed(1)
    m = L.build_model(flip_tta=True).eval()
    x = golden_crops()
    with torch.no_grad():
        p = m(torch.from_numpy(x)).numpy()
        q = m(torch.from_numpy(x[..., ::-1].copy())).numpy()[:, L.FLIP]
        plain = L.build_model()
        plain.load_state_dict(m.state_dict())
        one = plain.eval()(torch.from_numpy(x)).numpy()
    q[..., 0] = L.CROP - 1 - q[..., 0]
    np.testing.assert_allclose(q, p, atol=1e-3)
    assert np.abs(one - p).max() > 1e-3  # the average is not the single pass
    path = tmp_path / "tta.onnx"
    export_landmarks(m, path)
    np.testing.assert_allclose(ort_session(path).run(["points"], {"face": x})[0], p, atol=1e-3)


def test_init_from_onnx_reproduces_the_exported_model_and_moves_to_another_crop_size(tmp_path):
    """v2 starts from v1's exported weights: the un-folded batch norms give the same function
    in eval mode, about the same in train mode on the calibration batch, at any crop size."""
    torch.manual_seed(2)
    src = L.build_model(96)
    with torch.no_grad():  # non-trivial batch-norm statistics before folding
        for mod in src.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    src.eval()
    x = golden_crops()[:, :, :96, :96].copy()
    path = tmp_path / "v1.onnx"
    export_landmarks(src, path)
    want = ort_session(path).run(["points"], {"face": x})[0]
    calib = np.random.default_rng(0).uniform(0, 255, (8, 1, 96, 96)).astype(np.float32)
    dst = L.build_model(96)
    L.init_from_onnx(dst, path, calib)
    assert dst.training
    with torch.no_grad():
        np.testing.assert_allclose(dst.eval()(torch.from_numpy(x)).numpy(), want, atol=1e-3)
        train_mode = dst.train()(torch.from_numpy(calib)).numpy()
        eval_mode = dst.eval()(torch.from_numpy(calib)).numpy()
    np.testing.assert_allclose(train_mode, eval_mode, atol=0.05)
    big = L.build_model(128)
    L.init_from_onnx(big, path, np.random.default_rng(1).uniform(0, 255, (2, 1, 128, 128)).astype(np.float32))
    with torch.no_grad():
        assert big.eval()(torch.from_numpy(golden_crops())).shape == (2, 68, 2)


@pytest.mark.skipif(not (MODELS / "landmarks.onnx").exists(), reason="models/landmarks.onnx not exported yet")
def test_shipped_landmark_model_matches_golden():
    g = json.loads((MODELS / "landmarks.golden.json").read_text())
    x = np.array(g["inputs"], dtype=np.float32)
    np.testing.assert_array_equal(x, golden_crops())
    sess = ort_session(MODELS / "landmarks.onnx")
    np.testing.assert_allclose(sess.run(["points"], {"face": x})[0], np.array(g["points"]), atol=g["tolerance"])
    assert g["astronaut"]["box"] == ASTRONAUT_BOX
    assert (MODELS / "landmarks.onnx").stat().st_size < 2_000_000


@pytest.mark.skipif(not L.landmarks_available(), reason="needs ../shared/data/landmarks (shared data)")
def test_shared_landmark_data_loads_and_ytf_test_videos_are_excluded():
    s = L.load_set("300w", ("helen_test",))
    assert len(s.images) == 330 and s.points.shape == (330, 68, 2)
    assert np.median(L.iod(s.points)) > 20
    test_videos = L.ytf_test_videos()
    assert test_videos
    names = [n for n, subset, _ in L.read_points_csv(L.landmarks_dir() / "ytf" / "points.csv") if subset == "training"]
    kept = [n for n in names if L.ytf_video(n) not in test_videos]
    assert 0 < len(kept) < len(names)
