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


def _paint(ax, surface: pv.PolyData, basis: np.ndarray, origin: np.ndarray) -> None:
    """Flat-shaded orthographic painting of a surface (sac in red) in the plane of ``basis`` rows 0 and 1."""
    p, t = np.asarray(surface.points), triangles(surface)
    sac_points = np.asarray(surface.point_data[SAC]) if SAC in surface.point_data else np.zeros(len(p))
    sac = sac_points[t].mean(axis=1) > 0.5
    view = (p - origin) @ basis.T
    order = np.argsort(view[t, 2].mean(axis=1))
    n = np.cross(view[t[:, 1]] - view[t[:, 0]], view[t[:, 2]] - view[t[:, 0]])
    shade = 0.35 + 0.65 * np.abs(n[:, 2]) / np.maximum(np.linalg.norm(n, axis=1), 1e-12)
    base = np.where(sac[:, None], np.array([[0.85, 0.25, 0.2]]), np.array([[0.75, 0.75, 0.8]]))
    colors = np.clip(base * shade[:, None], 0, 1)
    ax.add_collection(PolyCollection(view[t[order]][:, :, :2], facecolors=colors[order], edgecolors="none"))
    ax.set_xlim(view[:, 0].min(), view[:, 0].max())
    ax.set_ylim(view[:, 1].min(), view[:, 1].max())
    ax.set_aspect("equal")
    ax.axis("off")


def _surface_panel(ax, surface: pv.PolyData, title: str) -> None:
    p = np.asarray(surface.points)
    centroid = p.mean(0)
    # view along the axis of least extent: the sac shows beside its parent vessel
    axes = np.linalg.eigh(np.cov((p - centroid).T))[1]
    _paint(ax, surface, axes[:, ::-1].T, centroid)
    ax.set_title(title, fontsize=8)


def morphology_figure(surface, neck_segments, paths, neck, dome_point, values: dict, path: Path) -> Path:
    """Surface with the sac, neck contour, centerlines and the H / N / W measures drawn, seen side-on."""
    up = neck.normal
    along = paths[0].tangent[paths[0].nearest_index(neck.centroid)]
    e1 = along - (along @ up) * up
    e1 = e1 / np.linalg.norm(e1) if np.linalg.norm(e1) > 1e-6 else np.cross(up, [1.0, 0, 0])
    basis = np.array([e1, up, np.cross(e1, up)])
    origin = neck.centroid

    def proj(x):
        return (np.atleast_2d(x) - origin) @ basis.T

    fig, ax = plt.subplots(figsize=(6.5, 6))
    _paint(ax, surface, basis, origin)
    for cl in paths:
        q = proj(cl.points)
        ax.plot(q[:, 0], q[:, 1], color="tab:blue", lw=0.8)
    for seg in neck_segments:
        q = proj(seg)
        ax.plot(q[:, 0], q[:, 1], color="black", lw=1.2)
    h = values["height"]
    ax.annotate("", xy=(0, h), xytext=(0, 0), arrowprops={"arrowstyle": "<->", "color": "gold", "lw": 1.5})
    ax.text(0.1, h / 2, f"H {h:.2f} mm", color="gold", fontsize=9, fontweight="bold")
    n_half = values["neck_diameter"] / 2
    ax.plot([-n_half, n_half], [0, 0], color="lime", lw=2)
    ax.text(n_half, -0.4, f"N {2 * n_half:.2f} mm", color="green", fontsize=9, fontweight="bold")
    w = values["width"]
    d = proj(dome_point)[0]
    ax.plot(d[0], d[1], "o", color="gold", ms=4)
    ax.text(-w / 2, h * 0.55, f"W {w:.2f} mm", color="tab:purple", fontsize=9, fontweight="bold")
    ax.set_title(
        f"size {values['size']:.2f} mm   AR {values['aspect_ratio']:.2f}   SR {values['size_ratio']:.2f}   "
        f"NSI {values['nsi']:.2f}\ninflow angle {values['inflow_angle']:.0f}°   sac red, neck black, "
        f"centerlines blue",
        fontsize=9,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)


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


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """tight_layout, written atomically (a killed job leaves no PNG that looks finished), figure closed."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return Path(path)


def segmentation_figure(image, labels: np.ndarray, path: Path, surface: pv.PolyData | None = None, title: str = ""):
    """Maximum-intensity projections of ``image`` (a ``cfdgen.imaging.Image``) along its three voxel axes with the
    vessel (cyan) and aneurysm (red) outlines, and the reconstructed surface when given (sac in red)."""
    a = image.array
    vmin, vmax = np.percentile(a, [1.0, 99.8])
    n = 3 + (surface is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), dpi=110)
    spacing = image.spacing
    for ax, axis, name in zip(axes, (2, 1, 0), ("k", "j", "i")):
        u, v = (d for d in range(3) if d != axis)
        extent = (0.0, a.shape[u] * spacing[u], 0.0, a.shape[v] * spacing[v])  # mm: anisotropic voxels stay true
        ax.imshow(a.max(axis=axis).T, cmap="gray", origin="lower", vmin=vmin, vmax=vmax, extent=extent)
        for value, colour in ((1, "tab:cyan"), (2, "tab:red")):
            mask = (labels == value).any(axis=axis).T
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=colour, linewidths=0.6, extent=extent)
        ax.set_title(f"MIP along {name}", fontsize=8)
        ax.axis("off")
    if surface is not None:
        _surface_panel(axes[-1], surface, "reconstructed surface")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
