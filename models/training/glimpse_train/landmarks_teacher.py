"""`python -m glimpse_train landmarks-teacher`: fit the MediaPipe 468 -> iBUG 68 mapping on the
300-W training faces (afw + helen; helen_test only checks it), then pseudo-label LFW.

Writes reports/landmarks_teacher_map.json (the index/weight table and its NME on 300-W train and
helen_test) and cache/lfw_teacher68.npz (gitignored: 68 points per accepted LFW image).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .landmarks import CACHE, MeshMap, Teacher, fit_mesh_map, load_set, nme
from .loso import REPORTS

MAP_PATH = REPORTS / "landmarks_teacher_map.json"
LFW_CACHE = CACHE / "lfw_teacher68.npz"


def meshes_for(teacher: Teacher, s, color_images) -> np.ndarray:
    return np.array([teacher.mesh(im, p) for im, p in zip(color_images, s.points)])


def load_map() -> MeshMap:
    return MeshMap.from_json(json.loads(MAP_PATH.read_text())["map"])


def main(argv=None):
    import cv2

    cv2.setNumThreads(1)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--skip-lfw", action="store_true")
    a = ap.parse_args(argv)
    teacher = Teacher(a.data)
    t0 = time.time()
    train = load_set("300w", ("afw", "helen"), a.data, color=True)
    test = load_set("300w", ("helen_test",), a.data, color=True)
    m_train = meshes_for(teacher, train, train.images)
    m_test = meshes_for(teacher, test, test.images)
    mp = fit_mesh_map(m_train, train.points, a.k)
    e_train, e_test = nme(mp(m_train), train.points), nme(mp(m_test), test.points)
    single = fit_mesh_map(m_train, train.points, 1)
    info = {"k": a.k, "fit_on": "300-W afw+helen (training), teacher crop from the label box + 25 % margin, 2 passes",
            "nme_train": float(e_train.mean()), "nme_helen_test": float(e_test.mean()),
            "nme_helen_test_single_vertex_map": float(nme(single(m_test), test.points).mean()),
            "per_point_nme_helen_test": np.round(
                (np.linalg.norm(mp(m_test) - test.points, axis=-1) / np.linalg.norm(
                    test.points[:, 36] - test.points[:, 45], axis=-1)[:, None]).mean(0), 4).tolist(),
            "map": mp.to_json()}
    MAP_PATH.write_text(json.dumps(info))
    print(f"map fitted in {time.time() - t0:.0f}s: NME train {info['nme_train']:.4f} helen_test "
          f"{info['nme_helen_test']:.4f} (single-vertex map {info['nme_helen_test_single_vertex_map']:.4f})")
    if a.skip_lfw:
        return 0

    from .data import default_shared

    root = Path(a.data or default_shared()) / "data" / "faces" / "lfw"
    names = sorted(p.name for p in root.glob("*.jpg"))
    pts, kept = [], []
    hint = np.array([[55.0, 55.0], [125.0, 140.0]])  # LFW centre crops: face roughly here
    for i, n in enumerate(names):
        im = cv2.imread(str(root / n), cv2.IMREAD_COLOR)
        mesh = teacher.mesh(im, hint, passes=3)
        p68 = mp(mesh)
        # presence check for the final crop
        lo, hi = mesh.min(0), mesh.max(0)
        side = (hi - lo).max() * 1.5
        c = (lo + hi) / 2
        s = 192 / side
        mm = np.array([[s, 0, 96 - s * c[0]], [0, s, 96 - s * c[1]]])
        crop = cv2.warpAffine(im, mm, (192, 192))
        logit = float(teacher.sess.run(None, {"input_1": cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255})[1].ravel()[0])
        d = np.linalg.norm(p68[36] - p68[45])
        if logit > 0 and 30 < d < 120 and np.all(p68 > -20) and np.all(p68 < 200):
            pts.append(p68)
            kept.append(n)
        if i % 1000 == 0:
            print(f"lfw {i}/{len(names)} kept {len(kept)} ({time.time() - t0:.0f}s)", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(LFW_CACHE, names=np.array(kept), points=np.array(pts, dtype=np.float32))
    print(f"LFW: {len(kept)}/{len(names)} labelled -> {LFW_CACHE}")
    return 0


if __name__ == "__main__":
    main()
