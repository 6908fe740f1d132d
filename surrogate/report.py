"""The patient report of ``iahemo assess``: one self-contained HTML file and a PDF, from the assessment dict.

Both views are drawn from one display context (:func:`report_context`: every value already formatted as text), so
the HTML and the PDF never disagree. The report identifies the patient by the pseudonym only: the case id (often a
file or patient name) is never printed, free text containing it is rewritten to the pseudonym, and of the patient
data only the fields the clinical scores use are shown.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import numbers
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cfdgen import registry
from cfdgen.atomic import atomic_path
from cfdgen.errors import IahemoError

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"
PATIENT_FIELDS = ("age", "sex", "population", "hypertension", "earlier_sah", "site")
DEFAULT_DISCLAIMER = (
    "Research use only. Not a medical device and not clinically validated. Do not use for diagnosis or treatment "
    "decisions."
)
DEMO_WARNING = "Rupture-risk grade from a demonstration model, not clinically validated."
OOD_WARNING = (
    "Out of distribution: this geometry or its boundary conditions lie outside the surrogate's training data, so "
    "the predicted hemodynamics are extrapolations and may be wrong."
)
GRADE_ORDER = ("low", "intermediate", "high")
GRADE_COLORS = {"low": "#3a9d5d", "intermediate": "#e0a030", "high": "#d0392b"}
OTHER_COLOR = "#8c8c8c"
FIGURE_TITLES = {
    "segmentation": "Segmentation of the image: intensity projections with the vessel (cyan) and aneurysm (red)",
    "wall_maps": "Wall shear stress (TAWSS) and oscillatory shear index (OSI), surrogate prediction",
    "risk_regions": "High-risk regions on the sac (blue: low WSS + high OSI, red: flow impingement)",
}
HEMO_LABELS = {
    "sac_tawss": "sac TAWSS (mean over the sac)",
    "sac_ntawss": "sac nTAWSS (÷ parent-artery TAWSS)",
    "sac_osi_max": "maximum OSI on the sac",
    "lsa": "low-shear area (fraction of the sac)",
}
REGION_LABELS = {"low_wss_high_osi": "low WSS + high OSI", "impingement": "flow impingement"}
PATIENT_LABELS = {
    "age": "age",
    "sex": "sex",
    "population": "population",
    "hypertension": "hypertension",
    "earlier_sah": "earlier SAH",
    "site": "aneurysm site",
}
SCORE_LABELS = {
    "five_year_risk": "5-year rupture risk",
    "three_year_growth": "3-year growth risk",
    "five_year_growth": "5-year growth risk",
    "earlier_sah": "earlier SAH",
}
MODEL_LABELS = {
    "file": "file",
    "sha256": "SHA-256",
    "members": "ensemble members",
    "trained_on": "trained on",
    "demonstration": "demonstration model",
    "label_source": "labels",
    "held_out_iou": "IoU against CFD-derived labels, held-out synthetic geometries",
}
# Suffixes of the BC vector names (cfdgen.bc.BoundaryConditions.names) that carry the SI unit; longest first.
BC_UNITS = (("_m3_s", "m³/s"), ("_pa_s", "Pa·s"), ("_kg_m3", "kg/m³"), ("_pa", "Pa"), ("_s", "s"))
UNIT_DISPLAY = {"1": "–", "mm^3": "mm³", "mm^2": "mm²", "deg": "°"}
MIN_SCRUB = 3  # shorter case ids would rewrite ordinary words and numbers, so they are not scrubbed
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DASH = "—"


def pseudonym(case_id: str, salt: str = "iahemo") -> str:
    """Stable pseudonym of a case id: "P-" and the first 6 hex digits of sha256(salt + case_id)."""
    return "P-" + hashlib.sha256((salt + str(case_id)).encode("utf-8")).hexdigest()[:6]


# ---------------------------------------------------------------------------------------------------- formatting


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits in fixed notation, scientific only for extreme magnitudes."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not isinstance(value, numbers.Real):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return DASH
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 6 or mag < -3:
        return f"{x:.{digits - 1}e}"
    if x.is_integer() and mag >= digits - 1:
        return str(int(x))
    return f"{x:.{max(0, digits - 1 - mag)}f}"


def fmt_percent(fraction: Any) -> str:
    """A fraction in [0, 1] as a percentage with one decimal."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not math.isfinite(float(fraction)):
        return DASH
    return f"{100.0 * float(fraction):.1f} %"


def fmt_unit(unit: Any) -> str:
    return UNIT_DISPLAY.get(str(unit), str(unit)) if unit not in (None, "") else "–"


def fmt_date(created: Any) -> str:
    """ISO timestamp → "YYYY-MM-DD HH:MM UTC"; anything unparseable is shown as given."""
    if not created:
        return "date unknown"
    try:
        t = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return str(created)
    if t.tzinfo is not None:
        return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return t.strftime("%Y-%m-%d %H:%M")


def _flag(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return fmt_number(value) if isinstance(value, numbers.Number) else str(value)


def _words(key: str, labels: Mapping[str, str] | None = None) -> str:
    return (labels or {}).get(key) or str(key).replace("_", " ")


def _as_dict(value: Any) -> Mapping:
    # upstream parts may be None, missing or (in a broken file) the wrong type: all render as "not available"
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list:
    if value is None or isinstance(value, str | bytes | Mapping):
        return [value] if isinstance(value, str) else []
    return list(value) if isinstance(value, Iterable) else []


def _ordered(keys: Iterable[str], first: Iterable[str]) -> list[str]:
    keys = list(keys)
    return [k for k in first if k in keys] + [k for k in keys if k not in first]


def _not_computable(reason: Any) -> str:
    text = str(reason or "").strip()
    return text if text.startswith("not computable") else "not computable" + (f": {text}" if text else "")


def _flatten(d: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out += _flatten(v, f"{prefix}{k}.")
        elif v is None or isinstance(v, numbers.Number | str):
            out.append((f"{prefix}{k}", v))
    return out


def _scrubber(case_id: Any, alias: str) -> Callable[[Any], str]:
    """Free text → text with every occurrence of the case id replaced by the pseudonym (case-insensitive)."""
    cid = str(case_id or "")
    pattern = re.compile(re.escape(cid), re.IGNORECASE) if len(cid) >= MIN_SCRUB else None

    def scrub(text: Any) -> str:
        s = "" if text is None else str(text)
        return pattern.sub(alias, s) if pattern else s

    return scrub


# ------------------------------------------------------------------------------------------------ display context


def _section(rows: list, reason: str | None = None, **extra: Any) -> dict:
    """A report section: its rows, or the reason it is not available (shown instead of an empty table)."""
    return {"rows": rows, "reason": None if rows else (reason or "nothing recorded"), **extra}


def _summary(a: Mapping, no_sac: bool) -> dict:
    dist = _as_dict(a.get("grade_distribution"))
    cats = [
        k for k in _ordered(dist, GRADE_ORDER) if isinstance(dist[k], numbers.Real) and not isinstance(dist[k], bool)
    ]
    total = sum(max(float(dist[k]), 0.0) for k in cats if math.isfinite(float(dist[k])))
    segments = []
    for k in cats:
        f = float(dist[k])
        f = max(f, 0.0) if math.isfinite(f) else 0.0
        segments.append(
            {
                "name": str(k),
                "fraction": f / total if total > 0 else 0.0,
                "width": f"{100.0 * f / total:.1f}" if total > 0 else "0",
                "percent": fmt_percent(f),
                "color": GRADE_COLORS.get(k, OTHER_COLOR),
            }
        )
    prob = _as_dict(dist.get("probability"))
    grade = a.get("grade")
    phases = _as_dict(a.get("phases"))
    risk = phases.get("five_year_risk")
    return {
        "grade": None if grade is None else str(grade),
        "grade_reason": "no aneurysm sac detected" if no_sac else "grade not computed (see messages)",
        "grade_probability": None if a.get("grade_probability") is None else fmt_number(a.get("grade_probability")),
        "distribution": segments,
        "probability": None
        if prob.get("mean") is None
        else f"{fmt_number(prob.get('mean'))} (5–95 %: {fmt_number(prob.get('p05'))}–{fmt_number(prob.get('p95'))})",
        "phases_score": None if phases.get("score") is None else fmt_number(phases.get("score")),
        "phases_risk": None if risk is None else fmt_percent(risk),
        "phases_reason": _not_computable(phases.get("reason")),
    }


def _morphology(a: Mapping, scrub: Callable[[Any], str]) -> dict:
    m = a.get("morphology")
    if not isinstance(m, Mapping):
        return _section([], "no aneurysm sac detected", kind=None)
    values, units = _as_dict(m.get("values")), _as_dict(m.get("units"))
    rows = []
    for key in _ordered(values, registry.MORPHOLOGY):
        p = registry.MORPHOLOGY.get(key)
        rows.append(
            {
                "label": p.label if p else _words(key),
                "value": fmt_number(values[key]),
                "unit": fmt_unit(p.unit if p else units.get(key)),
                "description": p.description if p else "",
            }
        )
    kind = m.get("kind")
    return _section(rows, "no morphology values recorded", kind=None if kind is None else scrub(kind))


def _bc(a: Mapping) -> dict:
    rows = []
    for name, value in _as_dict(a.get("bc")).items():
        label, unit = str(name), "–"
        for suffix, u in BC_UNITS:
            if label.endswith(suffix):
                label, unit = label[: -len(suffix)], u
                break
        rows.append({"label": _words(label), "value": fmt_number(value), "unit": unit})
    return _section(rows, "no boundary conditions recorded")


def _hemodynamics(a: Mapping, no_sac: bool) -> dict:
    h = _as_dict(a.get("hemodynamics"))
    rows = []
    for key in _ordered(h, HEMO_LABELS):
        q = _as_dict(h[key])
        if not q:
            continue
        rows.append(
            {
                "label": _words(key, HEMO_LABELS),
                "mean": fmt_number(q.get("mean")),
                "interval": f"{fmt_number(q.get('p05'))} – {fmt_number(q.get('p95'))}",
                "unit": fmt_unit(q.get("unit")),
            }
        )
    return _section(rows, "no aneurysm sac detected" if no_sac else "sac-level hemodynamics not computed")


def _regions(a: Mapping, no_sac: bool) -> dict:
    r = _as_dict(a.get("risk_regions"))
    rows = [{"label": _words(k, REGION_LABELS), "value": fmt_percent(r[k])} for k in _ordered(r, REGION_LABELS)]
    return _section(rows, "no aneurysm sac detected" if no_sac else "risk regions not computed")


def _figures(a: Mapping) -> dict:
    """Each figure with its file (for the PDF) and its base64 data URI (for the HTML), or why it is missing."""
    figs = _as_dict(a.get("figures"))
    rows = []
    for key in _ordered(figs, FIGURE_TITLES):
        if not figs[key]:
            continue
        path, uri, reason = Path(str(figs[key])), None, None
        try:
            data = path.read_bytes()
        except OSError:
            reason = "figure file missing"
        else:
            if data.startswith(PNG_MAGIC):
                uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            else:
                reason = "figure file is not a PNG image"
        rows.append({"title": _words(key, FIGURE_TITLES), "path": str(path), "uri": uri, "reason": reason})
    return _section(rows, "no figures were produced")


def _score(name: str, s: Any) -> dict:
    s = _as_dict(s)
    extra = []
    for k, v in s.items():
        if k in ("score", "points", "reason") or isinstance(v, bool) or not isinstance(v, numbers.Real):
            continue
        as_pct = ("risk" in k or "growth" in k) and 0.0 <= float(v) <= 1.0
        extra.append({"label": _words(k, SCORE_LABELS), "value": fmt_percent(v) if as_pct else fmt_number(v)})
    points = [{"label": _words(k, SCORE_LABELS), "value": fmt_number(v)} for k, v in _as_dict(s.get("points")).items()]
    computable = s.get("score") is not None
    return {
        "name": name,
        "score": fmt_number(s.get("score")) if computable else None,
        "reason": None if computable else _not_computable(s.get("reason")),
        "extra": extra,
        "points": points,
    }


def _provenance(a: Mapping, scrub: Callable[[Any], str]) -> dict:
    models = []
    for name, m in _as_dict(a.get("models")).items():
        if m is None:  # a model not used for this case (the region model without a sac)
            continue
        m = _as_dict(m)
        rows = []
        for key in _ordered(m, MODEL_LABELS):
            v = m[key]
            if isinstance(v, Mapping):
                rows += [
                    {"label": f"{_words(key, MODEL_LABELS)}: {_words(k, REGION_LABELS)}", "value": scrub(fmt_number(x))}
                    for k, x in _flatten(v)
                    if isinstance(x, numbers.Number)
                ]
            elif isinstance(v, bool | numbers.Number):
                rows.append({"label": _words(key, MODEL_LABELS), "value": _flag(v)})
            elif v is not None and not isinstance(v, list | tuple):
                rows.append({"label": _words(key, MODEL_LABELS), "value": scrub(v)})
        models.append({"name": str(name), "rows": rows})
    ood = [
        {"label": _words(k), "value": _flag(v) if isinstance(v, bool | numbers.Number) else scrub(v)}
        for k, v in _flatten(_as_dict(a.get("ood")))
    ]
    return _section(models, "no model information recorded", ood=ood)


def report_context(assessment: Mapping) -> dict:
    """Everything the report shows, formatted as text; the case id and unlisted patient fields never enter it."""
    a = assessment
    alias = str(a.get("pseudonym") or (pseudonym(str(a["case_id"])) if a.get("case_id") else "P-unknown"))
    scrub = _scrubber(a.get("case_id"), alias)
    inputs, patient, models = _as_dict(a.get("inputs")), _as_dict(a.get("patient")), _as_dict(a.get("models"))
    no_sac = a.get("morphology") is None
    warnings = []
    if a.get("out_of_distribution"):
        warnings.append(OOD_WARNING)
    if _as_dict(models.get("risk")).get("demonstration"):
        warnings.append(DEMO_WARNING)
    input_rows = [
        {"label": "source", "value": scrub(inputs.get("source")) if inputs.get("source") else DASH},
        {"label": "input kind", "value": scrub(inputs.get("kind") or DASH)},
        {"label": "case file", "value": scrub(inputs.get("case_file")) if inputs.get("case_file") else "none"},
    ]
    return {
        "pseudonym": alias,
        "created": fmt_date(a.get("created")),
        "code_version": str(a.get("code_version") or "unknown"),
        "disclaimer": scrub(a.get("disclaimer") or DEFAULT_DISCLAIMER),
        "warnings": warnings,
        "summary": _summary(a, no_sac),
        "inputs": _section(
            input_rows,
            defaults_used=[scrub(d) for d in _as_list(inputs.get("defaults_used"))],
            notes=[scrub(n) for n in _as_list(inputs.get("notes"))],
        ),
        "patient": [{"label": PATIENT_LABELS[k], "value": _flag(patient.get(k))} for k in PATIENT_FIELDS],
        "morphology": _morphology(a, scrub),
        "bc": _bc(a),
        "hemodynamics": _hemodynamics(a, no_sac),
        "risk_regions": _regions(a, no_sac),
        "figures": _figures(a),
        "scores": [_score("PHASES", a.get("phases")), _score("ELAPSS", a.get("elapss"))],
        "provenance": _provenance(a, scrub),
        "messages": [scrub(m) for m in _as_list(a.get("messages"))],
    }


# ---------------------------------------------------------------------------------------------------------- HTML


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # notes and messages are free text: never let them become markup
        undefined=jinja2.StrictUndefined,  # a template typo fails the tests instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(context: Mapping) -> str:
    """The self-contained HTML report (inline CSS, figures as data URIs) for a :func:`report_context`."""
    import jinja2

    try:
        template = _environment().get_template(TEMPLATE)
    except jinja2.TemplateNotFound:
        raise IahemoError(f"report template {TEMPLATES / TEMPLATE} is missing: reinstall iahemo") from None
    return template.render(**context)


# ----------------------------------------------------------------------------------------------------------- PDF

PAGE_W, PAGE_H = 8.27, 11.69  # A4 portrait, inches
MARGIN = 0.6
CHAR_EM = 0.62  # upper bound of DejaVu Sans' mean advance (digits are 0.636 em) as a fraction of the font size
LINE = 1.35  # line height / font size


class _Flow:
    """Top-to-bottom layout on A4 pages with a cursor in inches; a block that would not fit starts a new page."""

    def __init__(self, pdf, footer: str):
        self.pdf, self.footer = pdf, footer
        self.fig = None
        self.y = MARGIN
        self.pages = 0

    @property
    def width(self) -> float:
        return PAGE_W - 2 * MARGIN

    def _fy(self, y: float) -> float:
        return 1.0 - y / PAGE_H

    def page(self) -> None:
        from matplotlib.figure import Figure

        self.close()
        self.fig = Figure(figsize=(PAGE_W, PAGE_H))
        self.y = MARGIN
        self.pages += 1
        self.fig.text(
            0.5,
            self._fy(PAGE_H - MARGIN / 2),
            f"{self.footer} · page {self.pages}",
            ha="center",
            va="center",
            fontsize=7,
            color="#777777",
        )

    def close(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            self.fig = None

    def room(self, height: float) -> None:
        if self.fig is None or self.y + height > PAGE_H - MARGIN:
            self.page()

    def wrap(self, text: str, size: float, indent: float = 0.0) -> list[str]:
        chars = max(10, int((self.width - indent) * 72 / (CHAR_EM * size)))
        lines: list[str] = []
        for para in str(text).splitlines() or [""]:
            lines += textwrap.wrap(para, chars, break_long_words=True, break_on_hyphens=False) or [""]
        return lines

    def text(self, text: str, size: float = 8.5, indent: float = 0.0, gap: float = 0.04, **style: Any) -> None:
        """A paragraph, wrapped to the page width; long paragraphs continue on the next page line by line."""
        lh = size * LINE / 72
        for line in self.wrap(text, size, indent):
            self.room(lh)
            self.fig.text((MARGIN + indent) / PAGE_W, self._fy(self.y), line, va="top", fontsize=size, **style)
            self.y += lh
        self.y += gap

    def heading(self, text: str, size: float = 11.0) -> None:
        self.room(size * LINE / 72 + 0.6)  # keep a heading with the start of its section
        self.y += 0.08
        self.text(text, size=size, weight="bold", color="#1f3b63", gap=0.06)

    def banner(self, text: str, face: str, edge: str, color: str = "black", size: float = 8.5) -> None:
        from matplotlib.patches import Rectangle

        pad = 0.08
        lines = self.wrap(text, size, indent=2 * pad)
        h = len(lines) * size * LINE / 72 + 2 * pad
        self.room(h)
        self.fig.add_artist(
            Rectangle(
                (MARGIN / PAGE_W, self._fy(self.y + h)),
                self.width / PAGE_W,
                h / PAGE_H,
                transform=self.fig.transFigure,
                facecolor=face,
                edgecolor=edge,
                lw=1.2,
            )
        )
        y0 = self.y
        self.y += pad
        for line in lines:
            self.fig.text(
                (MARGIN + pad) / PAGE_W, self._fy(self.y), line, va="top", fontsize=size, color=color, weight="bold"
            )
            self.y += size * LINE / 72
        self.y = y0 + h + 0.08

    def table(self, header: list[str], rows: list[list[str]], widths: list[float], size: float = 7.5) -> None:
        """A ruled table; rows that do not fit continue on the next page under a repeated header."""
        row_h = size * 2.0 / 72
        rows = list(rows)
        while rows:
            fit = int((PAGE_H - MARGIN - self.y) / row_h) - 1
            if self.fig is None or fit < min(2, len(rows)):
                self.page()
                continue
            chunk, rows = rows[:fit], rows[fit:]
            self._table_block(header, chunk, widths, size, row_h)

    def _table_block(self, header, rows, widths, size, row_h) -> None:
        h = row_h * (len(rows) + 1)
        ax = self.fig.add_axes((MARGIN / PAGE_W, self._fy(self.y + h), self.width / PAGE_W, h / PAGE_H))
        ax.axis("off")
        total = sum(widths)
        # cells do not wrap: clip to the column's width (with the cell's padding) so text never spills over
        chars = [max(3, int(w / total * self.width * 72 / (CHAR_EM * size)) - 2) for w in widths]
        cells = [[_clip(c, n) for c, n in zip(r, chars)] for r in rows]
        t = ax.table(
            cellText=cells,
            colLabels=[_clip(c, n) for c, n in zip(header, chars)],
            colWidths=[w / total for w in widths],
            bbox=(0, 0, 1, 1),
            cellLoc="left",
        )
        t.auto_set_font_size(False)
        t.set_fontsize(size)
        for (r, _), cell in t.get_celld().items():
            cell.set_edgecolor("#bbbbbb")
            cell.set_linewidth(0.5)
            if r == 0:
                cell.set_facecolor("#e8edf3")
                cell.get_text().set_weight("bold")
        self.y += h + 0.12

    def grade_bar(self, segments: list[dict]) -> None:
        h = 0.5
        self.room(h + 0.1)
        ax = self.fig.add_axes((MARGIN / PAGE_W, self._fy(self.y + h), 0.7 * self.width / PAGE_W, h / PAGE_H))
        left = 0.0
        for s in segments:
            ax.barh(0, s["fraction"], left=left, color=s["color"], height=0.8)
            if s["fraction"] >= 0.12:  # narrower segments are named in the legend line below only
                ax.text(
                    left + s["fraction"] / 2,
                    0,
                    f"{s['name']}\n{s['percent']}",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white",
                    weight="bold",
                )
            left += s["fraction"]
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25 %", "50 %", "75 %", "100 %"], fontsize=6.5)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        self.y += h + 0.2

    def image(self, path: str, title: str, height: float) -> None:
        from matplotlib.image import imread

        self.heading(title, size=9)
        try:
            img = imread(path)
        except (OSError, ValueError, SyntaxError):
            self.text("not available: figure file unreadable", color="#a00000")
            return
        self.room(height)
        ax = self.fig.add_axes((MARGIN / PAGE_W, self._fy(self.y + height), self.width / PAGE_W, height / PAGE_H))
        ax.imshow(img, interpolation="antialiased")
        ax.set_anchor("N")
        ax.axis("off")
        self.y += height + 0.1


def _clip(text: Any, n: int) -> str:
    s = str(text)
    return s if len(s) <= n else s[: max(1, n - 1)] + "…"


def _kv(flow: _Flow, rows: list[dict], indent: float = 0.15) -> None:
    for r in rows:
        flow.text(f"{r['label']}: {r['value']}", indent=indent, gap=0.0)
    flow.y += 0.04


def _na(flow: _Flow, reason: str) -> None:
    flow.text(f"not available: {reason}", color="#666666", style="italic")


def _page_one(flow: _Flow, c: Mapping) -> None:
    flow.page()
    flow.text(f"iahemo assessment  {c['pseudonym']}", size=16, weight="bold", color="#1f3b63", gap=0.02)
    flow.text(f"{c['created']}  ·  iahemo {c['code_version']}", size=9, color="#444444", gap=0.12)
    flow.banner(c["disclaimer"], face="#fff3cd", edge="#c99700")
    for w in c["warnings"]:
        flow.banner(w, face="#fde2e0", edge="#c0392b", color="#8b0000")
    s = c["summary"]
    flow.heading("Summary")
    if s["grade"] is None:
        flow.text(f"Rupture-risk grade: not available: {s['grade_reason']}", size=10)
    else:
        extra = f"  (model probability {s['grade_probability']})" if s["grade_probability"] else ""
        flow.text(f"Rupture-risk grade: {s['grade']}{extra}", size=10, weight="bold")
    if s["distribution"]:
        flow.text("Grade distribution over the boundary-condition uncertainty:", size=8.5)
        flow.grade_bar(s["distribution"])
        flow.text("   ".join(f"{d['name']} {d['percent']}" for d in s["distribution"]), size=8)
        if s["probability"]:
            flow.text(f"rupture probability {s['probability']}", size=8)
    if s["phases_score"] is not None:
        risk = f", 5-year rupture risk {s['phases_risk']}" if s["phases_risk"] else ""
        flow.text(f"PHASES score: {s['phases_score']}{risk}", size=10)
    else:
        flow.text(f"PHASES score: {s['phases_reason']}", size=10)

    m = c["morphology"]
    flow.heading("Morphology" + (f" ({m['kind']})" if m["kind"] else ""))
    if m["reason"]:
        _na(flow, m["reason"])
    else:
        rows = [[r["label"], r["value"], r["unit"]] for r in m["rows"]]
        half = (len(rows) + 1) // 2  # two column pairs halve the table's height so page 1 holds everything
        left, right = rows[:half], rows[half:] + [["", "", ""]] * (2 * half - len(rows))
        flow.table(["parameter", "value", "unit"] * 2, [a + b for a, b in zip(left, right)], [2.2, 1.3, 0.8] * 2)

    h = c["hemodynamics"]
    flow.heading("Sac-level hemodynamics (mean and 5–95 % interval over the BC uncertainty)")
    if h["reason"]:
        _na(flow, h["reason"])
    else:
        flow.table(
            ["quantity", "mean", "5–95 %", "unit"],
            [[r["label"], r["mean"], r["interval"], r["unit"]] for r in h["rows"]],
            [3.6, 1.2, 2.0, 0.8],
        )

    r = c["risk_regions"]
    flow.heading("Risk regions (fraction of the sac area)")
    if r["reason"]:
        _na(flow, r["reason"])
    else:
        flow.table(["region", "fraction of sac area"], [[x["label"], x["value"]] for x in r["rows"]], [3.6, 4.0])


def _page_two(flow: _Flow, c: Mapping) -> None:
    flow.page()
    flow.heading("Figures", size=12)
    figs = c["figures"]
    if figs["reason"]:
        _na(flow, figs["reason"])
        return
    shown = [f for f in figs["rows"] if f["uri"]]
    avail = PAGE_H - MARGIN - flow.y - 0.1
    height = min(4.6, avail / max(1, len(shown)) - 0.45)  # 0.45 in: the figure's title line and spacing
    for f in figs["rows"]:
        if f["uri"]:
            flow.image(f["path"], f["title"], max(height, 2.0))
        else:
            flow.heading(f["title"], size=9)
            _na(flow, f["reason"])


def _page_three(flow: _Flow, c: Mapping) -> None:
    flow.page()
    flow.heading("Inputs")
    _kv(flow, c["inputs"]["rows"])
    defaults = c["inputs"]["defaults_used"]
    flow.text("Population defaults used for: " + (", ".join(defaults) if defaults else "none"))
    for note in c["inputs"]["notes"]:
        flow.text(f"• {note}", indent=0.15, gap=0.0)
    flow.text("Patient data used by the scores: " + "; ".join(f"{p['label']} {p['value']}" for p in c["patient"]))

    bc = c["bc"]
    flow.heading("Boundary conditions (nominal)")
    if bc["reason"]:
        _na(flow, bc["reason"])
    else:
        flow.table(
            ["quantity", "value", "unit"],
            [[r["label"], r["value"], r["unit"]] for r in bc["rows"]],
            [3.6, 2.0, 2.0],
            size=7,
        )

    flow.heading("Scores")
    for s in c["scores"]:
        head = f"{s['name']}: {s['score']} points" if s["score"] is not None else f"{s['name']}: {s['reason']}"
        flow.text(head, size=9, weight="bold")
        _kv(flow, s["extra"] + s["points"])

    p = c["provenance"]
    flow.heading("Provenance")
    flow.text(f"iahemo {c['code_version']}, report created {c['created']}")
    if p["reason"]:
        _na(flow, p["reason"])
    for model in p["rows"]:
        flow.text(f"{model['name']} model", size=9, weight="bold")
        _kv(flow, model["rows"])
    if p["ood"]:
        flow.text("out-of-distribution check", size=9, weight="bold")
        _kv(flow, p["ood"])

    flow.heading("Messages")
    for msg in c["messages"] or ["none"]:
        flow.text(f"• {msg}", indent=0.15, gap=0.0)
    flow.y += 0.15
    flow.banner(c["disclaimer"], face="#fff3cd", edge="#c99700")


def render_pdf(context: Mapping, path: str | Path) -> int:
    """Write the PDF report for a :func:`report_context` to ``path``; returns the number of pages."""
    from matplotlib.backends.backend_pdf import PdfPages

    meta = {"Title": f"iahemo assessment {context['pseudonym']}", "Creator": f"iahemo {context['code_version']}"}
    with PdfPages(path, metadata=meta) as pdf:
        flow = _Flow(pdf, footer=f"iahemo assessment {context['pseudonym']} · research use only")
        _page_one(flow, context)
        _page_two(flow, context)
        _page_three(flow, context)
        flow.close()
    return flow.pages


def write_report(assessment: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``out_dir/report.html`` and ``out_dir/report.pdf`` (each atomically); returns both paths."""
    if not isinstance(assessment, Mapping):
        raise IahemoError(f"report: the assessment must be a dict, got {type(assessment).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise IahemoError(f"{out_dir}: not a folder, cannot write the report into it")
    context = report_context(assessment)
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    try:
        with atomic_path(html_path) as tmp:
            tmp.write_text(render_html(context), encoding="utf-8")  # labels carry κ, ³, –: not locale-dependent
        with atomic_path(pdf_path) as tmp:
            render_pdf(context, tmp)
    except OSError as e:
        raise IahemoError(f"{out_dir}: cannot write the report ({e.strerror or e})") from None
    return html_path, pdf_path
