"""Run the reference STSTNet weights fold by fold: `python -m glimpse_train.eval_reference`.

Expected: UF1 0.7209, UAR 0.7250, accuracy 0.7398 over the 442 predictions.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .data import default_shared, load_megc, reference_weight_name
from .loso import REPORTS, run_loso
from .report import format_metrics


def main(argv=None):
    import torch

    torch.set_num_threads(2)
    from .models import STSTNet

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=str(REPORTS / "reference_ststnet.json"), help="report file to write")
    a = ap.parse_args(argv)
    shared = Path(a.data) if a.data else default_shared()
    wdir = shared / "models" / "reference" / "ststnet"
    data = load_megc(shared)

    def fit_predict(tr, te, k, subj, log):
        m = STSTNet()
        sd = torch.load(wdir / f"{reference_weight_name(subj)}.pth", map_location="cpu", weights_only=True)
        m.load_state_dict(sd)
        m.eval()
        with torch.no_grad():
            return m(torch.from_numpy(data.x[te])).numpy()

    res = run_loso(data, fit_predict, log_every=False)
    res["arch"] = "ststnet-reference"
    print(format_metrics(res["metrics"]))
    o = res["metrics"]["overall"]
    ok = round(o["uf1"], 4) == 0.7209 and round(o["uar"], 4) == 0.7250 and round(o["acc"], 4) == 0.7398
    print("reproduces the published reference numbers (0.7209 / 0.7250 / 0.7398):", "YES" if ok else "NO")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    res.pop("logits_in_labels_csv_order")
    out.write_text(json.dumps(res, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
