"""blink-spill reads `glimpse eval spotting --work` folders: blink frames are those where both
eyes move, away from every true event."""
from pathlib import Path

import pytest

from glimpse_train.blink_spill import spill

HEADER = "frame,motion_brow_r,motion_brow_l,motion_eye_r,motion_eye_l\n"


def write_seed(work: Path, seed: int, events, rows):
    (work / f"synth_{seed}").mkdir(parents=True)
    (work / f"synth_{seed}_truth.csv").write_text(
        "event_id,type,onset_frame,offset_frame\n" + "".join(f"{i},micro,{a},{b}\n" for i, (a, b) in enumerate(events)))
    (work / f"synth_{seed}" / "frames.csv").write_text(HEADER + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_brow_motion_is_measured_in_blink_frames_only(tmp_path):
    write_seed(tmp_path, 1, [(100, 110)], [
        (10, 0.4, 0.2, 1.0, 2.0),     # a blink: counted
        (11, 0.3, 0.3, 1.5, 0.4),     # one eye only: not a blink
        (12, 0.1, 0.1, 0.1, 0.1),     # still
        (103, 0.9, 0.9, 1.0, 1.0),    # inside a true event: left out
        (114, 0.9, 0.9, 1.0, 1.0),    # within 5 frames of it: left out
        (13, "", "", "", ""),         # no face
    ])
    r = spill(tmp_path)
    assert r["blink_frames"] == 1
    assert r["brow_px"] == pytest.approx(0.3) and r["brow_eye_ratio"] == pytest.approx((0.4 + 0.1) / 2)


def test_a_folder_without_analyses_is_named(tmp_path):
    with pytest.raises(SystemExit, match=str(tmp_path)):
        spill(tmp_path)
