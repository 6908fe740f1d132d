"""Measured morphology (the whole ``iahemo morph`` path) against the synthetic construction's exact values.

One function per case, run in worker processes: the test of the ≥ 50-shape cohort and
``benchmarks/morph_accuracy.py`` share it, so the README's table and the test measure the same thing.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

RELATIVE = ("size", "height", "width", "neck_diameter", "aspect_ratio", "size_ratio")
ABSOLUTE = ("nsi", "ei", "ui", "inflow_angle", "outflow_angle")
# what the morphology issue asks of the cohort: median relative error of lengths/ratios, absolute of the
# shape indices, and of the inflow angle (degrees)
LIMITS = {**dict.fromkeys(RELATIVE, 0.05), **dict.fromkeys(("nsi", "ei", "ui"), 0.03), "inflow_angle": 5.0}


def morphology_errors(truth: dict, measured: dict) -> dict:
    """Relative errors for lengths and ratios, absolute for the indices (1) and angles (degrees)."""
    e = {k: abs(measured[k] - truth[k]) / abs(truth[k]) for k in RELATIVE}
    e.update({k: abs(measured[k] - truth[k]) for k in ABSOLUTE})
    return e


def measure_case(seed: int, index: int) -> dict:
    """Build cohort case ``index`` of ``seed`` (surface only, no image), measure it from a file, compare."""
    from cfdgen.morph import measure
    from cfdgen.synth.cohort import build_case
    from cfdgen.synth.config import SynthConfig

    sc = build_case(seed, index, SynthConfig())
    with tempfile.TemporaryDirectory(prefix="iahemo-morph-acc-") as tmp:
        path = Path(tmp) / "surface.vtp"
        sc.surface.save(path)
        t0 = time.perf_counter()
        res = measure(path)
        seconds = time.perf_counter() - t0
    kind = sc.truth["kind"]
    return {
        "id": sc.case_id,
        "kind": kind,
        "kind_ok": res.kind == kind,
        "seconds": seconds,
        **morphology_errors(sc.truth, res.values),
    }


def measure_cohort(n: int, seed: int, workers: int = 2) -> list[dict]:
    """:func:`measure_case` for cases 0..n-1, in ``workers`` spawned processes (vmtk and VTK are not
    fork-safe), in index order."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(measure_case, [seed] * n, range(n)))


def summary(errs: list[dict]) -> dict:
    keys = RELATIVE + ABSOLUTE
    return {
        "n": len(errs),
        "kind_correct": float(np.mean([e["kind_ok"] for e in errs])),
        "median": {k: float(np.median([e[k] for e in errs])) for k in keys},
        "p90": {k: float(np.percentile([e[k] for e in errs], 90)) for k in keys},
    }


def table(errs: list[dict]) -> str:
    """Per-parameter medians, all cases and by kind, as aligned text (test log, benchmark output)."""
    groups = {"all": errs, **{k: [e for e in errs if e["kind"] == k] for k in ("sidewall", "bifurcation")}}
    med = {g: summary(v)["median"] for g, v in groups.items() if v}
    lines = [f"{'parameter':<15}" + "".join(f"{g:>13}" for g in med) + f"{'limit':>9}"]
    for k in RELATIVE + ABSOLUTE:
        unit = "%" if k in RELATIVE else ("°" if k.endswith("angle") else "")
        scale = 100.0 if k in RELATIVE else 1.0
        cells = "".join(f"{med[g][k] * scale:>12.3f}{unit or ' '}" for g in med)
        limit = f"{LIMITS[k] * scale:>8.3g}{unit or ' '}" if k in LIMITS else f"{'-':>9}"
        lines.append(f"{k:<15}{cells}{limit}")
    return "\n".join(lines)
