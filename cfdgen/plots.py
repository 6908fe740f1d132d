"""Figures people look at instead of reading tables (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from cfdgen import registry  # noqa: E402
from cfdgen.atomic import atomic_path  # noqa: E402
from cfdgen.surface import triangles  # noqa: E402

SAC = registry.FIELDS["sac"].key


def _surface_panel(ax, surface: pv.PolyData, title: str) -> None:
    p, t = np.asarray(surface.points), triangles(surface)
    sac = np.asarray(surface.point_data[SAC])[t].mean(axis=1) > 0.5
    centroid = p.mean(0)
    # orthographic view along the axis of least extent shows the sac beside its parent vessel
    axes = np.linalg.eigh(np.cov((p - centroid).T))[1]
    view = (p - centroid) @ axes[:, ::-1]
    depth = view[t, 2].mean(axis=1)
    order = np.argsort(depth)
    n = np.cross(view[t[:, 1]] - view[t[:, 0]], view[t[:, 2]] - view[t[:, 0]])
    shade = 0.35 + 0.65 * np.abs(n[:, 2]) / np.maximum(np.linalg.norm(n, axis=1), 1e-12)
    base = np.where(sac[:, None], np.array([[0.85, 0.25, 0.2]]), np.array([[0.75, 0.75, 0.8]]))
    colors = np.clip(base * shade[:, None], 0, 1)
    ax.add_collection(PolyCollection(view[t[order]][:, :, :2], facecolors=colors[order], edgecolors="none"))
    ax.set_xlim(view[:, 0].min(), view[:, 0].max())
    ax.set_ylim(view[:, 1].min(), view[:, 1].max())
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _image_panel(ax, image_path: Path, labels_path: Path) -> None:
    img = np.asarray(nib.load(image_path).dataobj, dtype=np.float32)
    lab = np.asarray(nib.load(labels_path).dataobj)
    ax.imshow(img.max(axis=2).T, cmap="gray", origin="lower", vmin=-50, vmax=800)
    ax.contour((lab == 1).any(axis=2).T, levels=[0.5], colors="tab:cyan", linewidths=0.5)
    ax.contour((lab == 2).any(axis=2).T, levels=[0.5], colors="tab:red", linewidths=0.6)
    ax.set_title("CTA MIP (z) + labels", fontsize=7)
    ax.axis("off")


def cohort_figure(rows: list[dict], cases_dir: Path, path: Path, max_cases: int = 8) -> Path:
    """Surface (sac in red) and CTA maximum-intensity projection with label outlines, per case."""
    rows = rows[:max_cases]
    fig, axes = plt.subplots(2, len(rows), figsize=(2.6 * len(rows), 5.4), squeeze=False)
    for j, r in enumerate(rows):
        folder = Path(cases_dir) / r["id"]
        title = (
            f"{r['id']} {r['kind']}/{r['shape']}\n"
            f"size {r['size']:.1f} mm  AR {r['aspect_ratio']:.2f}  SR {r['size_ratio']:.2f}"
        )
        _surface_panel(axes[0, j], pv.read(folder / "surface.vtp"), title)
        _image_panel(axes[1, j], folder / "image.nii.gz", folder / "labels.nii.gz")
    fig.suptitle("Synthetic cohort: lumen surfaces (sac red) and synthetic CTA", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
