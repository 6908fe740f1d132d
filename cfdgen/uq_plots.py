"""Figures of the uncertainty analysis (matplotlib headless, pyvista off-screen); every file written atomically.

Inputs are the plain dictionaries of ``uq.json`` so a figure can be redrawn from the JSON alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cfdgen.atomic import atomic_path  # noqa: E402


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def _save(fig: plt.Figure, path: Path) -> Path:
    from cfdgen.plots import save_figure

    return save_figure(fig, path)


def _value(entry: Any) -> tuple[float, float]:
    """(value, confidence half-width) from a SALib-style {"value", "conf"} or a bare number (PCE: no interval)."""
    if isinstance(entry, Mapping):
        v, c = entry.get("value"), entry.get("conf")
    else:
        v, c = entry, None
    return (np.nan if v is None else float(v)), (0.0 if c is None else float(c))


def sobol_bars(indices: Mapping[str, Mapping[str, Any]], names: Sequence[str], path: str | Path) -> Path:
    """One panel per quantity: S1 and ST bars per input, with confidence error bars where the analysis has them."""
    fig, axes = _grid(len(indices))
    x = np.arange(len(names))
    for ax, (qoi, rec) in zip(axes, indices.items(), strict=False):
        for off, key, color in ((-0.2, "S1", "tab:blue"), (0.2, "ST", "tab:orange")):
            vals = [_value(rec[key][n]) for n in names]
            ax.bar(x + off, [v for v, _ in vals], 0.4, yerr=[c for _, c in vals], capsize=3, color=color, label=key)
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), max(1.05, ax.get_ylim()[1]))
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(qoi, fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, Path(path))


def morris_scatter(results: Mapping[str, Mapping[str, Mapping[str, Any]]], names: Sequence[str], path) -> Path:
    """μ* against σ per quantity; inputs far from the origin matter, high σ/μ* means interaction or nonlinearity."""
    fig, axes = _grid(len(results))
    for ax, (qoi, rec) in zip(axes, results.items(), strict=False):
        mu = np.array([rec[n]["mu_star"] or 0.0 for n in names])
        sd = np.array([rec[n]["sigma"] or 0.0 for n in names])
        ax.scatter(mu, sd, color="tab:red")
        for n, a, b in zip(names, mu, sd, strict=True):
            ax.annotate(n, (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
        top = max(mu.max(), sd.max(), 1e-30) * 1.15
        ax.plot([0, top], [0, top], "k:", lw=0.6)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("μ*", fontsize=8)
        ax.set_ylabel("σ", fontsize=8)
        ax.set_title(qoi, fontsize=9)
    return _save(fig, Path(path))


def wall_map(wall, array: str, path: str | Path, title: str = "") -> Path:
    """Off-screen pyvista rendering of one point array on the wall, viewed along its thinnest principal axis."""
    import pyvista as pv

    pv.OFF_SCREEN = True
    pts = np.asarray(wall.points)
    centre = pts.mean(axis=0)
    axes = np.linalg.eigh(np.cov((pts - centre).T))[1]
    plotter = pv.Plotter(off_screen=True, window_size=(900, 700))
    try:
        plotter.add_mesh(wall.copy(), scalars=array, cmap="viridis", scalar_bar_args={"title": title or array})
        plotter.view_vector(axes[:, 0], viewup=axes[:, 1])
        plotter.reset_camera()
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    return Path(path)
