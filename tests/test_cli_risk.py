"""`iahemo train-risk` and `iahemo report` from the command line: outputs, and one-line refusals."""

import csv
import json

from iahemo.cli import main
from surrogate import risk

FEATURES = ["case_id", "ruptured", "size_ratio", "sac_ntawss", "sac_osi_max", "lsa", "aspect_ratio"]


def test_train_risk_cli(tmp_path, capsys):
    rows = risk.demonstration_table(120, seed=5)
    table = tmp_path / "labels.csv"
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FEATURES, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    assert main(["train-risk", "--labels", str(table), "-o", str(tmp_path / "risk")]) == 0
    out = capsys.readouterr().out
    assert "cross-validated AUC" in out and "Brier" in out
    model = json.loads((tmp_path / "risk" / "risk_model.json").read_text())
    assert model["n_cases"] == 120 and (tmp_path / "risk" / "reliability.png").stat().st_size > 10_000
    # a table without the lsa column: one line naming it, exit 2
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[f for f in FEATURES if f != "lsa"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    assert main(["train-risk", "--labels", str(table), "-o", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lsa" in err[0]


def test_report_cli_needs_an_assessment(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no assessment.json" in capsys.readouterr().err
