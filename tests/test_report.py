"""The patient report of ``iahemo assess``: HTML and PDF from an assessment dict, privacy, escaping, atomicity."""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import numpy as np
import pytest

from cfdgen import registry
from cfdgen.errors import IahemoError
from surrogate.report import pseudonym, render_pdf, report_context, write_report

CASE_ID = "John_Doe_1950"


def _png(path: Path, seed: int) -> str:
    """A small noisy PNG (noise: so the PDF that embeds it is clearly larger than one without figures)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    fig.add_subplot().imshow(np.random.default_rng(seed).random((60, 80)), cmap="viridis")
    fig.savefig(path, dpi=80)
    return str(path)


def _interval(mean: float, unit: str) -> dict:
    return {"mean": mean, "p05": 0.8 * mean, "p95": 1.2 * mean, "unit": unit}


@pytest.fixture
def full(tmp_path) -> dict:
    morph = {k: 1.0 + 0.37 * i for i, k in enumerate(registry.MORPHOLOGY)}
    morph["sac_volume"] = 123.456
    return {
        "case_id": CASE_ID,
        "pseudonym": pseudonym(CASE_ID),
        "created": "2026-11-24T14:00:00Z",
        "code_version": "0.1.0",
        "inputs": {
            "source": f"cases/{CASE_ID}/surface.vtp",
            "kind": "surface",
            "case_file": f"cases/{CASE_ID}/case.yaml",
            "defaults_used": ["heart rate", "pressure wire mean"],
            "notes": ["the inlet was taken as the largest opening"],
        },
        "patient": {
            "age": 72,
            "sex": "F",
            "population": "japanese",
            "hypertension": True,
            "earlier_sah": False,
            "site": "MCA",
            "name": "Jane Secretname",  # not a score input: must never be printed
        },
        "morphology": {
            "kind": "sidewall",
            "values": morph,
            "units": {k: registry.MORPHOLOGY[k].unit for k in morph},
        },
        "bc": {"mean_flow_m3_s": 3.1e-6, "period_s": 0.9, "viscosity_pa_s": 0.0035, "density_kg_m3": 1060.0},
        "hemodynamics": {
            "sac_tawss": _interval(1.2, "Pa"),
            "sac_ntawss": _interval(0.4, "1"),
            "sac_osi_max": _interval(0.31, "1"),
            "lsa": _interval(0.22, "1"),
        },
        "risk_regions": {"low_wss_high_osi": 0.12, "impingement": 0.05},
        "phases": {
            "score": 10,
            "five_year_risk": 0.053,
            "points": {"population": 3, "hypertension": 1, "age": 1, "size": 0, "earlier_sah": 0, "site": 2},
            "reason": None,
        },
        "elapss": {"score": 17, "points": {"earlier_sah": 0, "location": 5, "age": 0}, "reason": None},
        "grade": "intermediate",
        "grade_probability": 0.45,
        "grade_distribution": {
            "low": 0.2,
            "intermediate": 0.7,
            "high": 0.1,
            "probability": {"mean": 0.45, "p05": 0.3, "p95": 0.6},
        },
        "out_of_distribution": False,
        "ood": {"out_of_distribution": False, "margin": 1.2, "inputs_distance": 2.3, "inputs_threshold": 4.1},
        "models": {
            "surrogate": {
                "file": "/opt/iahemo/models/hemodynamics.pt",
                "sha256": "ab" * 32,
                "trained_on": "synthetic cohort of 400 geometries",
                "test_metrics": {"tawss_rel_l2": 0.08, "sac": {"lsa_abs": 0.03}},
            },
            "regions": {"file": "regions.pt", "held_out_iou": {"low_wss_high_osi": 0.19, "impingement": 0.709}},
            "risk": {"file": "risk_model.json", "demonstration": True, "label_source": "synthetic: published effects"},
        },
        "figures": {
            "wall_maps": _png(tmp_path / "wall_maps.png", 0),
            "risk_regions": _png(tmp_path / "risk_regions.png", 1),
        },
        "messages": ["the grade comes from a demonstration model"],
        "disclaimer": "Research use only. Not a medical device.",
    }


@pytest.fixture
def minimal() -> dict:
    return {
        "case_id": "syn1_000",
        "pseudonym": pseudonym("syn1_000"),
        "created": "2026-11-24T14:00:00Z",
        "code_version": "0.1.0",
        "inputs": {"source": "pipe.stl", "kind": "surface", "case_file": None, "defaults_used": [], "notes": []},
        "patient": {"age": None, "sex": None, "population": None, "hypertension": None, "earlier_sah": None},
        "morphology": None,
        "bc": {"mean_flow_m3_s": 3.1e-6},
        "hemodynamics": None,
        "risk_regions": None,
        "phases": {"score": None, "five_year_risk": None, "points": {}, "reason": "not computable: age missing"},
        "elapss": {"score": None, "points": {}, "reason": "age missing"},
        "grade": None,
        "grade_probability": None,
        "grade_distribution": None,
        "out_of_distribution": True,
        "models": {},
        "messages": ["no aneurysm sac detected: hemodynamic risk not computed"],
        "disclaimer": "Research use only. Not a medical device.",
    }


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))  # \b: "/Type /Pages" (the page tree) does not count


def test_pseudonym_is_stable_and_salted():
    p = pseudonym(CASE_ID)
    assert re.fullmatch(r"P-[0-9a-f]{6}", p)
    assert p == pseudonym(CASE_ID) and p != pseudonym(CASE_ID, salt="other") and p != pseudonym("John_Doe_1951")


def test_full_report(full, tmp_path):
    html_path, pdf_path = write_report(full, tmp_path / "out")
    assert (html_path.name, pdf_path.name) == ("report.html", "report.pdf")
    text = html_path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<!DOCTYPE html>")
    for expected in (full["pseudonym"], "intermediate", "demonstration model", "Research use only", "PHASES"):
        assert expected in text
    for p in registry.MORPHOLOGY.values():
        assert f"<td>{html.escape(p.label)}</td>" in text
    assert text.count("data:image/png;base64,") == 2
    assert "5.3 %" in text and "70.0 %" in text and "12.0 %" in text  # 5-year risk, distribution, risk region
    assert 'class="stack"' in text and "width: 70.0%" in text
    # how far to trust the regions: the region model's held-out IoU, per category, in words
    assert "IoU against CFD-derived labels, held-out synthetic geometries: flow impingement" in text and "0.709" in text
    # privacy: no case id (also not inside paths), no patient fields the scores do not use
    assert CASE_ID.lower() not in text.lower()
    assert f"cases/{full['pseudonym']}/surface.vtp" in text
    assert "Secretname" not in text
    # morphology rows in registry order
    positions = [text.index(f"<td>{html.escape(p.label)}</td>") for p in registry.MORPHOLOGY.values()]
    assert positions == sorted(positions)

    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")
    assert _pdf_pages(pdf) >= 3
    assert len(pdf) > 20_000
    assert f"iahemo assessment {full['pseudonym']}".encode() in pdf  # Title metadata
    assert b"iahemo 0.1.0" in pdf  # Creator metadata
    assert CASE_ID.encode() not in pdf


def test_minimal_report(minimal, tmp_path):
    html_path, pdf_path = write_report(minimal, tmp_path)
    text = html_path.read_text(encoding="utf-8")
    assert "no aneurysm sac detected: hemodynamic risk not computed" in text
    assert "not computable: age missing" in text
    assert "not available: no aneurysm sac detected" in text
    assert "not available: no figures were produced" in text
    assert "data:image/png;base64," not in text
    assert "Out of distribution" in text  # red banner
    assert "demonstration model" not in text  # no risk model recorded: no demonstration banner
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF") and _pdf_pages(pdf) >= 3


def test_missing_parts_never_crash(minimal, tmp_path):
    """Keys absent altogether (not just None), wrong types and a missing figure still give a report."""
    sparse = {"case_id": "x1_case", "messages": "one message as a plain string", "figures": {"wall_maps": "/nope.png"}}
    sparse["hemodynamics"] = {"sac_tawss": None}
    sparse["grade_distribution"] = {"low": "n/a", "high": 1.0}
    html_path, pdf_path = write_report(sparse, tmp_path)
    text = html_path.read_text(encoding="utf-8")
    assert pseudonym("x1_case") in text and "x1_case" not in text
    assert "not available: figure file missing" in text and "one message as a plain string" in text
    assert "Research use only" in text  # the default disclaimer
    assert pdf_path.read_bytes().startswith(b"%PDF")


def test_html_escapes_free_text(full, tmp_path):
    full["inputs"]["notes"].append("<script>alert('x')</script> & more")
    full["messages"].append('<img src=x onerror="alert(1)">')
    text = write_report(full, tmp_path)[0].read_text(encoding="utf-8")
    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text and "&amp; more" in text


def test_rewrite_replaces_atomically(full, tmp_path):
    (tmp_path / "report.html").write_text("old report")
    (tmp_path / "keep.txt").write_text("unrelated")
    write_report(full, tmp_path)
    write_report(full, tmp_path)
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["keep.txt", "report.html", "report.pdf", "risk_regions.png", "wall_maps.png"]


def test_pdf_text_stays_on_the_page(full, tmp_path, monkeypatch):
    """Long notes, paths without spaces and many messages wrap or continue on further pages, never spill over."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_pdf import PdfPages

    a = copy.deepcopy(full)
    a["inputs"]["source"] = "/data/" + "very_long_folder_name_" * 12 + "surface.vtp"
    a["inputs"]["notes"] = ["a rather long plain-language note about what was assumed " * 6]
    a["messages"] = [f"message {i}: " + "something could not be computed because of a reason " * 3 for i in range(24)]
    a["models"]["surrogate"]["test_metrics"] = {f"metric_{i}_with_a_long_name": 0.1 * i for i in range(12)}
    original = PdfPages.savefig
    checked = []

    def checking_savefig(self, figure=None, **kw):
        FigureCanvasAgg(figure)
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        page = figure.bbox.padded(1.0)
        texts = list(figure.texts)
        for ax in figure.axes:
            texts += ax.texts + ax.get_xticklabels() + [ax.title]
            for table in ax.tables:
                for cell in table.get_celld().values():
                    inner, box = cell.get_text().get_window_extent(renderer), cell.get_window_extent(renderer)
                    assert inner.width <= box.width + 1.0, cell.get_text().get_text()
        for t in texts:
            if t.get_text() and t.get_visible():
                bb = t.get_window_extent(renderer)
                assert page.contains(bb.x0, bb.y0) and page.contains(bb.x1, bb.y1), t.get_text()
        checked.append(figure)
        return original(self, figure, **kw)

    monkeypatch.setattr(PdfPages, "savefig", checking_savefig)
    pages = render_pdf(report_context(a), tmp_path / "long.pdf")
    assert pages > 3 and len(checked) == pages


def test_expected_failures_are_readable(full, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    with pytest.raises(IahemoError, match="not a folder"):
        write_report(full, blocker)
    with pytest.raises(IahemoError, match="must be a dict"):
        write_report(["not", "a", "dict"], tmp_path)
