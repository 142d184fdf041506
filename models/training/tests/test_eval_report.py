"""`glimpse_train.eval` aggregates the LOSO runs into loso_report.json."""
import json

from glimpse_train import DATASETS
from glimpse_train import eval as loso_eval
from glimpse_train import loso


def fake_run(folder, recipe, seed, uf1):
    """A finished run's file with the fields `aggregate` reads."""
    metric = {"uf1": uf1, "uar": uf1 + 0.01, "acc": uf1 + 0.02, "n": 10, "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    run = {"recipe": {"epochs": 1}, "seconds": 1.0, "metrics": {k: metric for k in ("overall",) + DATASETS}}
    (folder / f"{recipe}_s{seed}.json").write_text(json.dumps(run))


def test_one_recipe_keeps_the_others_in_the_report(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed in (0, 1):
        fake_run(runs, "f5cnet", seed, 0.6 + 0.1 * seed)
        fake_run(runs, "f5cnet_v4", seed, 0.7)
    monkeypatch.setattr(loso_eval, "REPORTS", tmp_path)
    monkeypatch.setattr(loso, "REPORTS", tmp_path)
    loso_eval.main(["--no-train", "--recipes", "f5cnet", "--seeds", "0", "1"])
    report = json.loads((tmp_path / "loso_report.json").read_text())
    assert set(report["models"]) == {"f5cnet", "f5cnet_v4"}
    assert abs(report["models"]["f5cnet"]["overall"]["uf1"]["mean"] - 0.65) < 1e-9
    printed = capsys.readouterr().out
    assert "F5CNet (ours) seeds" in printed and "F5CNet v4" not in printed   # the table: what was asked



def test_run_workers_runs_every_job_and_names_the_log_of_a_failure(tmp_path):
    import pytest

    from glimpse_train.eval import run_workers

    ok = [(["timeit", "-n", "1", "pass"], tmp_path / f"logs/ok{i}.log", f"ok {i}") for i in range(3)]
    run_workers(ok, jobs=2)
    assert all("loop" in log.read_text() for _, log, _ in ok)   # each ran, its output in its log
    failing = (["json.tool", str(tmp_path / "missing.json")], tmp_path / "logs/bad.log", "bad")
    with pytest.raises(SystemExit, match="run bad failed, see .*bad.log"):
        run_workers([failing], jobs=1)
    assert "missing.json" in failing[1].read_text()
