"""`python -m glimpse_train blink-spill --work DIR [--work DIR2 ...] [--label L ...]`: how far a
flow method moves the brows while the eyes blink, from the folders that `glimpse eval spotting
--work DIR` keeps (each synthetic seed's `synth_<seed>_truth.csv` and `synth_<seed>/frames.csv`).

Blink frames: both eye regions move more than `--eye-px` (0.5 px), 5 frames or more from every
true expression event (the synthetic face does not move its brows in a blink). Prints the number
of such frames, the brows' mean motion in them and the median brow/eye ratio per method
(session 16: the spotter's false alarms with the flow model are brow events at blinks).
"""
from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

MARGIN_FRAMES = 5   # frames kept clear of every true event
EYE_PX = 0.5        # both eye regions move more than this: a blink frame


def spill(work: Path, eye_px: float = EYE_PX) -> dict:
    """Brow motion in the blink frames of every synthetic seed analysed in `work`."""
    brow, ratio = [], []
    truths = sorted(work.glob("synth_*_truth.csv"))
    if not truths:
        raise SystemExit(f"{work}: no synth_<seed>_truth.csv (run `glimpse eval spotting --work {work}`)")
    for truth_csv in truths:
        seed = truth_csv.name[len("synth_"):-len("_truth.csv")]
        with open(truth_csv) as f:
            events = [(int(t["onset_frame"]), int(t["offset_frame"])) for t in csv.DictReader(f)]
        frames_csv = work / f"synth_{seed}" / "frames.csv"
        if not frames_csv.exists():
            raise SystemExit(f"{frames_csv}: missing (the analysis of seed {seed})")
        with open(frames_csv) as f:
            for row in csv.DictReader(f):
                try:
                    frame = int(row["frame"])
                    eyes = float(row["motion_eye_r"]), float(row["motion_eye_l"])
                    brows = float(row["motion_brow_r"]), float(row["motion_brow_l"])
                except ValueError:   # a frame without a face or a motion measurement
                    continue
                clear = all(frame < on - MARGIN_FRAMES or frame > off + MARGIN_FRAMES for on, off in events)
                if clear and min(eyes) > eye_px:
                    brow += brows
                    ratio += [b / e for b, e in zip(brows, eyes)]
    if not brow:
        return {"blink_frames": 0, "brow_px": None, "brow_eye_ratio": None}
    return {"blink_frames": len(brow) // 2, "brow_px": statistics.mean(brow), "brow_eye_ratio": statistics.median(ratio)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", action="append", required=True, help="a `glimpse eval spotting --work` folder (repeatable)")
    ap.add_argument("--label", action="append", default=None, help="one per --work")
    ap.add_argument("--eye-px", type=float, default=EYE_PX)
    a = ap.parse_args(argv)
    labels = a.label or a.work
    if len(labels) != len(a.work):
        ap.error("give one --label per --work")
    for label, work in zip(labels, a.work):
        r = spill(Path(work), a.eye_px)
        if not r["blink_frames"]:
            print(f"{label}: no blink frames")
            continue
        print(f"{label}: {r['blink_frames']} blink frames, brow motion mean {r['brow_px']:.3f} px, "
              f"brow/eye median {r['brow_eye_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    main()
