"""Clinical scores against hand-computed examples, and the logistic risk grade on problems with known answers:
coefficient recovery, exact metric values, the demonstration model's published effect signs, the artifact round
trip, the refusals of bad tables, and the `train-risk` outputs."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from cfdgen.case import Patient
from cfdgen.errors import ConfigError, IahemoError
from surrogate import risk, scores

# ---------------------------------------------------------------------------------------------------------------
# PHASES / ELAPSS

WORKED = Patient(age=72, sex="F", population="japanese", hypertension=True, earlier_sah=False, site="MCA")


def test_phases_worked_example():
    r = scores.phases(WORKED, 8.0)
    assert r.points == {"population": 3, "hypertension": 1, "age": 1, "size": 3, "earlier_sah": 0, "site": 2}
    assert r.score == 10
    assert r.five_year_risk == pytest.approx(0.053)
    assert r.missing == () and r.reason is None
    d = r.to_dict()
    assert d["score"] == 10 and d["missing"] == [] and json.dumps(d)


@pytest.mark.parametrize(("size", "points"), [(6.99, 0), (7.0, 3), (9.99, 3), (10.0, 6), (19.99, 6), (20.0, 10)])
def test_phases_size_bins(size, points):
    assert scores.phases(WORKED, size).points["size"] == points


def test_phases_risk_table_ends_and_other_items():
    low = Patient(age=40, population="Germany", hypertension=False, earlier_sah=False, site="ica")
    r = scores.phases(low, 3.0)
    assert r.score == 0 and r.five_year_risk == pytest.approx(0.004)
    high = Patient(age=70, population="Finland", hypertension=True, earlier_sah=True, site="basilar tip")
    r = scores.phases(high, 25.0)
    assert r.points == {"population": 5, "hypertension": 1, "age": 1, "size": 10, "earlier_sah": 1, "site": 4}
    assert r.score == 22 and r.five_year_risk == pytest.approx(0.178)
    assert [scores.phases_risk(s) for s in (3, 4, 9, 11, 12)] == pytest.approx([0.007, 0.009, 0.043, 0.072, 0.178])
    assert scores.phases(replace(low, site="Acom"), 3.0).points["site"] == 4  # PHASES pools AComm with the ACA
    assert scores.phases(replace(low, site="PCA"), 3.0).points["site"] == 4


def test_phases_missing_fields_are_not_guessed():
    r = scores.phases(replace(WORKED, age=None, site=None), 8.0)
    assert r.score is None and r.five_year_risk is None
    assert set(r.missing) == {"age", "site"}
    assert r.reason == "not computable: age, site missing from case.yaml"
    assert "age" not in r.points and r.points["size"] == 3  # what could be evaluated is still shown
    r = scores.phases(WORKED, None)
    assert r.score is None and r.missing == ("size",) and "size" in r.reason
    r = scores.phases(WORKED, float("nan"))
    assert r.score is None and r.missing == ("size",)


def test_unknown_site_names_it():
    r = scores.phases(replace(WORKED, site="carotid-cavernous fistula"), 8.0)
    assert r.score is None and "site" in r.missing
    assert "'carotid-cavernous fistula'" in r.reason and "\n" not in r.reason
    assert scores.elapss(replace(WORKED, site="somewhere", irregular_shape=False), 8.0).score is None


def test_elapss_hand_example():
    # 68-year-old Finnish patient, 5.5 mm irregular PComm aneurysm:
    # location 5 + age floor((68−60)/5)=1 + population 7 + size 10 + shape 4 = 27
    p = Patient(age=68, population="finnish", hypertension=False, earlier_sah=True, site="PComm", irregular_shape=True)
    r = scores.elapss(p, 5.5)
    assert r.points == {"site": 5, "age": 1, "population": 7, "size": 10, "irregular_shape": 4}
    assert r.score == 27 and r.five_year_risk is None
    assert "earlier_sah" not in r.points  # deliberately left out: its direction is uncertain
    # the worked PHASES patient: MCA 3 + age 2 + Japan 1 + 8 mm 13 + regular 0 = 19
    assert scores.elapss(replace(WORKED, irregular_shape=False), 8.0).score == 19


def test_elapss_bins_and_missing_shape():
    assert [scores.elapss_age_points(a) for a in (50, 60, 64.9, 65, 69.9, 70, 81)] == [0, 0, 0, 1, 1, 2, 4]
    sizes = (0.5, 2.99, 3.0, 4.99, 5.0, 6.99, 7.0, 9.99, 10.0)
    assert [scores.elapss_size_points(s) for s in sizes] == [0, 0, 4, 4, 10, 10, 13, 13, 22]
    r = scores.elapss(WORKED, 8.0)  # irregular_shape not given
    assert r.score is None and r.missing == ("irregular_shape",) and "irregular_shape" in r.reason


# ---------------------------------------------------------------------------------------------------------------
# Metrics and the fit


def test_metrics_exact_values():
    y = np.array([0, 0, 1, 1, 0, 1])
    assert risk.auc(np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7]), y) == 1.0
    assert risk.auc(np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.3]), y) == 0.0
    assert risk.auc(np.full(6, 0.4), y) == 0.5
    # positives 0.5, 0.9, 0.3 against negatives 0.1, 0.5, 0.2: 2.5 + 3 + 2 wins of 9 pairs (the tie counts ½)
    assert risk.auc(np.array([0.1, 0.5, 0.5, 0.9, 0.2, 0.3]), y) == pytest.approx(7.5 / 9)
    assert risk.brier(y.astype(float), y) == 0.0
    assert risk.brier(np.full(6, 0.5), y) == 0.25
    assert math.isnan(risk.auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_stratified_folds_keep_prevalence():
    y = np.array([1] * 30 + [0] * 70)
    fold = risk.stratified_folds(y, 5, seed=3)
    for k in range(5):
        assert (fold == k).sum() == 20 and y[fold == k].sum() == 6
    assert np.array_equal(fold, risk.stratified_folds(y, 5, seed=3))


def test_logistic_fit_recovers_known_coefficients():
    rng = np.random.default_rng(42)
    n = 2000
    x1, x2, x3 = rng.normal(5.0, 2.0, n), rng.normal(-1.0, 0.5, n), rng.uniform(0.0, 1.0, n)
    true = {"x1": 0.5, "x2": -2.0, "x3": 1.5}
    b0 = -2.5 + 0.5 * 5.0 - 2.0 * 1.0 - 0.75 + 1.0  # ≈ −1.75: about a third positive
    y = rng.random(n) < 1 / (1 + np.exp(-(b0 + true["x1"] * x1 + true["x2"] * x2 + true["x3"] * x3)))
    rows = [
        {"case_id": f"c{i}", "ruptured": int(y[i]), "x1": x1[i], "x2": x2[i], "x3": x3[i], "note": "ignored"}
        for i in range(n)
    ]
    model, report = risk.fit_risk_model(rows, ("x1", "x2", "x3"), risk.GradeConfig(bootstrap=0))
    raw, intercept = model.raw_coefficients()
    stds = dict(zip(model.features, model.stds))
    for k, v in true.items():  # compared on the standardised scale, where the sampling error is ≈ 0.06
        assert raw[k] * stds[k] == pytest.approx(v * stds[k], abs=0.2), k
    assert intercept == pytest.approx(b0, abs=0.5)
    assert model.demonstration is False and model.label_source == "user labels"
    assert report["auc_ci95"] is None and 0.5 < report["auc"] < 1.0


# ---------------------------------------------------------------------------------------------------------------
# The demonstration model


@pytest.fixture(scope="module")
def demo():
    rows = risk.demonstration_table(400, seed=0)
    model, report = risk.fit_risk_model(rows)
    print(
        f"\ndemonstration model, 5-fold CV on 400 synthetic cases: AUC {report['auc']:.3f} "
        f"{report['auc_ci95']}, Brier {report['brier']:.3f} {report['brier_ci95']} "
        f"(prevalence-only Brier {report['brier_prevalence']:.3f})"
    )
    return rows, model, report


def test_demonstration_table_plausible(demo):
    rows, _, _ = demo
    assert len(rows) == 400 and len({r["case_id"] for r in rows}) == 400
    assert 0.22 < np.mean([r["ruptured"] for r in rows]) < 0.38
    ranges = {"size_ratio": (0.8, 8), "sac_ntawss": (0.1, 1.5), "sac_osi_max": (0, 0.45), "lsa": (0, 0.6)}
    for k, (lo, hi) in {**ranges, "aspect_ratio": (0.6, 3.5)}.items():
        v = np.array([r[k] for r in rows])
        assert lo <= v.min() and v.max() <= hi and np.ptp(v) > 0.3 * (min(hi, 4.0) - lo), k  # spread, in range
    assert {r["label_source"] for r in rows} == {risk.DEMO_LABEL_SOURCE}
    assert risk.demonstration_table(50, seed=1) == risk.demonstration_table(50, seed=1)


def test_demonstration_cv_and_published_signs(demo):
    _, model, report = demo
    assert report["auc"] > 0.7
    assert report["auc_ci95"][0] < report["auc"] < report["auc_ci95"][1]
    assert report["brier"] < report["brier_prevalence"]  # better than predicting the prevalence
    assert report["brier_ci95"][0] < report["brier"] < report["brier_ci95"][1]
    coef = dict(zip(model.features, model.coef))
    assert coef["size_ratio"] > 0 and coef["sac_ntawss"] < 0 and coef["sac_osi_max"] > 0
    assert model.demonstration and model.label_source == risk.DEMO_LABEL_SOURCE
    assert "synthetic" in model.disclaimer and "not a medical device" in model.disclaimer
    rel = report["reliability"]
    assert len(rel) == 10 and sum(b["count"] for b in rel) == 400
    assert len(report["out_of_fold"]) == 400


def test_save_load_round_trip(demo, tmp_path):
    rows, model, _ = demo
    path = model.save(tmp_path / "m" / "risk_model.json")
    back = risk.RiskModel.load(path)
    assert back == model
    assert np.array_equal(back.predict_proba(rows[:50]), model.predict_proba(rows[:50]))
    saved = json.loads(path.read_text())
    assert saved["demonstration"] is True and saved["metrics"]["auc"] == model.metrics["auc"]
    assert not list(path.parent.glob(".*"))  # no temporary left behind
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(IahemoError, match="not an iahemo risk model"):
        risk.RiskModel.load(tmp_path / "bad.json")
    with pytest.raises(IahemoError, match="not found"):
        risk.RiskModel.load(tmp_path / "absent.json")


def test_predict_needs_every_feature(demo):
    _, model, _ = demo
    row = {k: v for k, v in demo[0][0].items() if k != "lsa"}
    with pytest.raises(IahemoError, match="'lsa'"):
        model.predict_proba(row)
    assert model.predict_proba({**demo[0][0], "size": 7.0}).shape == (1,)  # extra keys are ignored


def test_grades_and_thresholds(demo):
    _, model, _ = demo
    assert [model.grade(p) for p in (0.0, 0.2999, 0.3, 0.5999, 0.6, 1.0)] == [
        "low",
        "low",
        "intermediate",
        "intermediate",
        "high",
        "high",
    ]
    assert risk.grade(0.5, (0.2, 0.4)) == "high"
    with pytest.raises(IahemoError):
        model.grade(1.5)
    with pytest.raises(ConfigError):
        risk.GradeConfig(low_below=0.6, high_from=0.3)
    # monotone in the published directions: a bigger, slower, more oscillatory sac grades higher
    base = {"size_ratio": 1.5, "sac_ntawss": 0.9, "sac_osi_max": 0.05, "lsa": 0.05, "aspect_ratio": 1.0}
    worse = {"size_ratio": 5.0, "sac_ntawss": 0.2, "sac_osi_max": 0.35, "lsa": 0.4, "aspect_ratio": 2.5}
    p = model.predict_proba([base, worse])
    assert model.grade(p[0]) == "low" and model.grade(p[1]) == "high"


def test_grade_distribution(demo):
    rows, model, _ = demo
    d = risk.grade_distribution(model, rows[:37])
    assert sum(d[g] for g in risk.GRADES) == pytest.approx(1.0)
    assert all(d[g] * 37 == pytest.approx(round(d[g] * 37)) for g in risk.GRADES)
    pr = d["probability"]
    assert 0 <= pr["p05"] <= pr["mean"] <= pr["p95"] <= 1
    one = risk.grade_distribution(model, [rows[0]] * 4)
    assert one[model.grade(model.predict_proba(rows[0])[0])] == 1.0
    with pytest.raises(IahemoError):
        risk.grade_distribution(model, [])


# ---------------------------------------------------------------------------------------------------------------
# Bad tables and the command


def _write_csv(path, rows):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_bad_tables_are_refused_with_the_culprit_named(demo, tmp_path):
    rows = [dict(r) for r in demo[0][:40]]
    with pytest.raises(IahemoError, match="at least 10 cases, got 9"):
        risk.fit_risk_model(rows[:9])
    with pytest.raises(IahemoError, match="all 20 cases are unruptured"):
        risk.fit_risk_model([r for r in rows if not r["ruptured"]][:20])
    with pytest.raises(IahemoError, match="missing column 'lsa'"):
        risk.fit_risk_model([{k: v for k, v in r.items() if k != "lsa"} for r in rows])
    bad = [dict(r) for r in rows]
    bad[6]["sac_osi_max"] = "n/a"
    with pytest.raises(IahemoError, match=r"row 7 \(case_id demo-0006\): column 'sac_osi_max': 'n/a' is not a number"):
        risk.fit_risk_model(_write_csv(tmp_path / "bad.csv", bad))
    bad = [dict(r) for r in rows]
    bad[2]["ruptured"] = "maybe"
    with pytest.raises(IahemoError, match=r"row 3 .*column 'ruptured'"):
        risk.fit_risk_model(bad)
    bad = [dict(r) for r in rows]
    bad[5]["case_id"] = bad[4]["case_id"]
    with pytest.raises(IahemoError, match="duplicate case_id 'demo-0004'"):
        risk.fit_risk_model(bad)
    with pytest.raises(IahemoError) as info:
        risk.fit_risk_model(rows[:9])
    assert "\n" not in str(info.value)


def test_train_risk_command_writes_outputs(demo, tmp_path):
    rows = [{**r, "ruptured": "yes" if r["ruptured"] else "no", "age": 60} for r in demo[0][:120]]
    table = _write_csv(tmp_path / "labels.csv", rows)
    report = risk.train_risk_command(table, tmp_path / "out", risk.GradeConfig(bootstrap=50))
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"risk_model.json", "risk_cv.json", "reliability.png"}
    assert json.loads((out / "risk_cv.json").read_text())["auc"] == pytest.approx(report["auc"])
    model = risk.RiskModel.load(out / "risk_model.json")
    assert model.n_cases == 120 and model.demonstration  # label_source column carried over
    png = out / "reliability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
