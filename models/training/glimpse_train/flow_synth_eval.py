"""`python -m glimpse_train flow-synth-eval --pairs DIR [--pairs DIR2 ...] [--model ../flow.onnx --label ours]... [--refine] [--classical] [--rows]`:
end-point error of flow models on the synthetic face pairs that `glimpse eval flow --save-pairs DIR`
wrote (the same pairs and the same scores as that command's table: EPE over every pixel, over the
micro-expression pairs' pixels with >= 0.2 px of expression motion, and over the neutral pairs,
each pooled over pixels), so that a candidate model is judged on the development seeds from
Python, without a Rust build. `--refine` adds each model followed by OpenCV's variational
refinement (as `--flow onnx-vr`), `--classical` DIS with the pipeline's settings (through the
Python OpenCV wheel, whose DIS differs a little from the Rust side's Debian OpenCV). `--rows`
also splits the local-motion error by bands of crop rows into its parts along and across the
true motion (session 14: at the brows the model's error is mostly across it, the aperture
problem) and into its horizontal and vertical parts (session 16: at the brows mostly horizontal,
the true horizontal motion only partly given back).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .export import MODELS_DIR, ort_session


def load_pairs(folder) -> dict:
    """The saved pairs: x [n,2,H,W] float32 (previous, current; 0..255), truth [n,2,H,W] (NaN under
    an eyelid), local [n,H,W], micro [n] bool, and the description `meta`."""
    folder = Path(folder)
    meta = json.loads((folder / "pairs.json").read_text())
    n, s = meta["pairs"], meta["side"]

    def read(name, dtype, shape):
        values = np.fromfile(folder / name, dtype)
        if values.size != int(np.prod(shape)):
            raise ValueError(f"{folder / name}: {values.size} values, expected {int(np.prod(shape))} for {shape}")
        return values.reshape(shape)

    previous = read("previous.u8", np.uint8, (n, s, s))
    current = read("current.u8", np.uint8, (n, s, s))
    return {"x": np.stack([previous, current], 1).astype(np.float32), "truth": read("truth.f32", "<f4", (n, 2, s, s)),
            "local": read("local.f32", "<f4", (n, s, s)), "micro": read("micro.u8", np.uint8, (n,)).astype(bool),
            "meta": meta}


def seed_range(meta: dict) -> str:
    seeds = meta.get("evaluation", {})
    return f"{seeds.get('first_seed')}..{seeds.get('first_seed', 0) + seeds.get('seeds', 0) - 1}"


def joined_pairs(folders) -> dict:
    """Several `--save-pairs` folders as one set (session 17: development seeds 101-103 and
    104-113 together), pooled over pixels as one folder is; they must share the crop side and
    the local-motion threshold."""
    sets = [load_pairs(f) for f in folders]
    first = sets[0]["meta"]
    for f, p in zip(folders, sets):
        if (p["meta"]["side"], p["meta"]["local_px"]) != (first["side"], first["local_px"]):
            raise ValueError(f"{f}: side/local_px {p['meta']['side']}/{p['meta']['local_px']}, "
                             f"but {folders[0]} has {first['side']}/{first['local_px']}")
    if len(sets) == 1:
        return sets[0]
    joined = {k: np.concatenate([p[k] for p in sets]) for k in ("x", "truth", "local", "micro")}
    joined["meta"] = dict(first, pairs=len(joined["x"]), seed_ranges=[seed_range(p["meta"]) for p in sets])
    return joined


def local_pixels(pairs: dict, known: np.ndarray) -> np.ndarray:
    """[n,H,W] mask of the micro-expression pairs' pixels whose expression motion is at least
    local_px, among the `known` ones: where `glimpse eval flow` measures its local EPE."""
    return known & pairs["micro"][:, None, None] & (pairs["local"] >= pairs["meta"]["local_px"])


def scores(pred: np.ndarray, pairs: dict) -> dict:
    """EPE pooled over pixels as `glimpse eval flow` pools them: all, local (micro pairs, expression
    motion >= local_px), neutral (the neutral pairs)."""
    e = np.sqrt(((pred - pairs["truth"]) ** 2).sum(1))
    known = ~np.isnan(e)
    local = local_pixels(pairs, known)
    neutral = known & ~pairs["micro"][:, None, None]
    return {"epe_all": float(e[known].mean()), "epe_local": float(e[local].mean()), "epe_neutral": float(e[neutral].mean())}


ROW_BANDS = ((0, 8), (8, 16), (16, 32), (32, 48), (48, 128))   # hair edge, fringe, forehead and brows, eyes, lower face


def row_bands(pred: np.ndarray, pairs: dict, bands=ROW_BANDS) -> list:
    """Per band of crop rows, over the micro pairs' local pixels: the share of those pixels, the
    EPE, the mean error along the true motion (+ = too much; `along_mean`), the RMS of the
    error along and across it, the RMS of its horizontal and vertical parts, and `u_gain`: how
    much of the true horizontal motion the flow gives back (the least-squares weight of true u
    in predicted u, beside true v and a constant; session 16: at the brows the model's is low)."""
    truth = pairs["truth"]
    e = pred - truth
    size = np.sqrt((truth ** 2).sum(1))
    local = local_pixels(pairs, ~np.isnan(size))
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = truth[:, 0] / size, truth[:, 1] / size
    along = e[:, 0] * ux + e[:, 1] * uy
    across = e[:, 1] * ux - e[:, 0] * uy
    epe = np.sqrt((e ** 2).sum(1))
    rows = []
    for r0, r1 in bands:
        m = local.copy()
        m[:, :r0] = False
        m[:, r1:] = False
        if not m.any():
            continue
        design = np.stack([truth[:, 0][m], truth[:, 1][m], np.ones(int(m.sum()))], 1)
        u_gain = float(np.linalg.lstsq(design, pred[:, 0][m], rcond=None)[0][0])
        rows.append({"rows": f"{r0}-{r1 - 1}", "share": float(m.sum() / local.sum()), "epe": float(epe[m].mean()),
                     "along_mean": float(along[m].mean()), "along_rms": float(np.sqrt((along[m] ** 2).mean())),
                     "across_rms": float(np.sqrt((across[m] ** 2).mean())),
                     "u_rms": float(np.sqrt((e[:, 0][m] ** 2).mean())), "v_rms": float(np.sqrt((e[:, 1][m] ** 2).mean())),
                     "u_gain": u_gain})
    return rows


def run_model(path, x: np.ndarray) -> np.ndarray:
    session = ort_session(str(path), 1)
    return np.concatenate([session.run(["flow"], {"previous": p[None, :1], "current": p[None, 1:]})[0] for p in x])


def main(argv=None):
    import cv2

    from .flow import Classical

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", required=True, action="append",
                    help="the folder `glimpse eval flow --save-pairs` wrote (repeatable: the sets pooled as one)")
    ap.add_argument("--model", action="append", default=None, help="an ONNX flow model (repeatable; default ../flow.onnx)")
    ap.add_argument("--label", action="append", default=None)
    ap.add_argument("--refine", action="store_true", help="also each model followed by OpenCV's variational refinement")
    ap.add_argument("--classical", action="store_true", help="also DIS with the pipeline's settings")
    ap.add_argument("--rows", action="store_true", help="also the local-motion error by bands of crop rows")
    a = ap.parse_args(argv)
    models = a.model or [str(MODELS_DIR / "flow.onnx")]
    labels = a.label or [Path(m).name for m in models]
    if len(labels) != len(models):
        ap.error("give one --label per --model")
    cv2.setNumThreads(1)
    pairs = joined_pairs(a.pairs)
    classical = Classical()
    flows = {}
    for label, path in zip(labels, models):
        flows[label] = run_model(path, pairs["x"])
        if a.refine:
            flows[f"{label}-vr"] = np.stack([classical.refine(p[0], p[1], f) for p, f in zip(pairs["x"], flows[label])])
    if a.classical:
        flows["dis"] = np.stack([classical.run("dis", p[0], p[1]) for p in pairs["x"]])
    rows = {label: scores(flow, pairs) for label, flow in flows.items()}
    seeds = ", ".join(pairs["meta"].get("seed_ranges", [seed_range(pairs["meta"])]))
    print(f"pairs: {pairs['meta']['pairs']} ({int(pairs['micro'].sum())} micro) from seeds {seeds}; EPE in crop px")
    print("method | EPE all | EPE local | EPE neutral")
    for label, r in rows.items():
        print(f"{label} | {r['epe_all']:.4f} | {r['epe_local']:.4f} | {r['epe_neutral']:.4f}")
    if a.rows:
        print("\nlocal motion by crop rows: EPE, error along the true motion (mean, RMS), across it (RMS), "
              "its horizontal and vertical parts (RMS), the share of the true horizontal motion given back")
        print("method | rows | share | EPE | along mean | along RMS | across RMS | u RMS | v RMS | u gain")
        for label, flow in flows.items():
            for b in row_bands(flow, pairs):
                print(f"{label} | {b['rows']} | {b['share']:.2f} | {b['epe']:.4f} | {b['along_mean']:+.4f} | "
                      f"{b['along_rms']:.4f} | {b['across_rms']:.4f} | {b['u_rms']:.4f} | {b['v_rms']:.4f} | {b['u_gain']:.2f}")
    return 0


if __name__ == "__main__":
    main()
