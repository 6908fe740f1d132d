"""Lumen reconstruction: a label (or probability) map -> an open lumen surface in mm, ready for ``morph`` / ``mesh``.

Marching cubes on the lumen map (probability 0.5 when probabilities are given: sub-voxel edges; else the 0/1
mask) -> the largest piece -> windowed-sinc smoothing (a low-pass filter that removes voxel stairs without the
shrinkage of Laplacian smoothing) -> vmtk's uniform remeshing -> the same intake, opening naming, centerlines and
perpendicular clipping of ragged ends that every surface gets (``morph.prepare_vessel``) -> ``opening_id`` and
``opening_patch`` like the synthetic cohort's surfaces, and a ``sac`` point array from the aneurysm label.

Where the vessel leaves the image, marching cubes leaves the surface open: those are the openings.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
from scipy import ndimage

from cfdgen import registry
from cfdgen.atomic import write_json
from cfdgen.errors import GeometryError
from cfdgen.imaging import Image, ImageError, read_image
from cfdgen.openings import label_openings
from cfdgen.surface import write_atomic

LABEL_ANEURYSM = 2


@dataclass(frozen=True)
class ReconstructConfig:
    smoothing_iterations: int = 30
    pass_band: float = 0.05  # windowed-sinc pass band (0-2; lower is smoother)
    edge_in_voxels: float = 0.8  # remeshing target, in units of the mean voxel spacing
    min_voxels: int = 50  # fewer lumen voxels than this is not a vessel


@dataclass(frozen=True, eq=False)
class Reconstruction:
    surface: pv.PolyData
    openings: list
    notes: tuple[str, ...]
    sac_points: int
    contoured: str  # what marching cubes ran on (probabilities or labels) and whether the result was remeshed


def lumen_map(labels: Image, probabilities: Image | None) -> tuple[np.ndarray, float]:
    """The scalar field to contour and its level: P(lumen) at 0.5 when probabilities exist, else the mask."""
    lumen = np.rint(labels.array) > 0
    if probabilities is None:
        return lumen.astype(np.float32), 0.5
    p = probabilities.array
    if p.ndim != 4 or p.shape[:3] != labels.shape:
        raise ImageError(f"{probabilities.source}: expected (X, Y, Z, classes) on the grid of the label map")
    # Outside the kept component the post-processed labels win: no stray blobs come back through the probabilities.
    keep = ndimage.binary_dilation(lumen, iterations=2)
    return np.where(keep, 1.0 - p[..., 0], 0.0).astype(np.float32), 0.5


def marching_cubes(field: np.ndarray, level: float, affine: np.ndarray) -> pv.PolyData:
    from skimage.measure import marching_cubes as mc

    verts, faces, _, _ = mc(field, level=level, allow_degenerate=False)
    world = verts @ affine[:3, :3].T + affine[:3, 3]
    # skimage orders triangles with normals towards higher values (into the lumen); a mirroring affine turns
    # them once more, so only a proper affine needs the flip to normals out of the lumen
    if np.linalg.det(affine[:3, :3]) > 0:
        faces = faces[:, ::-1]
    mesh = pv.PolyData(world, np.hstack([np.full((len(faces), 1), 3), faces]).ravel())
    return mesh.clean()


def smooth_surface(mesh: pv.PolyData, cfg: ReconstructConfig) -> pv.PolyData:
    largest = mesh.connectivity("largest").extract_surface(algorithm="dataset_surface").triangulate().clean()
    return largest.smooth_taubin(
        n_iter=cfg.smoothing_iterations, pass_band=cfg.pass_band, boundary_smoothing=False, normalize_coordinates=True
    )


def sac_mask(points: np.ndarray, labels: Image) -> np.ndarray:
    """1 where the nearest lumen voxel of a surface point is labelled aneurysm."""
    lab = np.rint(labels.array).astype(np.int64)
    _, nearest = ndimage.distance_transform_edt(lab == 0, sampling=labels.spacing, return_indices=True)
    ijk = np.clip(np.rint(labels.index(points)).astype(np.int64), 0, np.array(lab.shape) - 1)
    src = nearest[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    return (lab[src[0], src[1], src[2]] == LABEL_ANEURYSM).astype(np.uint8)


def reconstruct(labels: Image, probabilities: Image | None = None, cfg: ReconstructConfig = ReconstructConfig()):
    from cfdgen.vmtk_centerlines import remesh

    n = int((np.rint(labels.array) > 0).sum())
    if n == 0:
        raise ImageError(f"{labels.source}: an empty label map (no vessel voxel), nothing to reconstruct")
    if n < cfg.min_voxels:
        raise ImageError(f"{labels.source}: only {n} vessel voxels (fewer than {cfg.min_voxels}), not a vessel")
    edge = cfg.edge_in_voxels * float(labels.spacing.mean())
    # Where two lumen walls nearly touch (a sac against its parent, two branches), vmtk's remeshing can push them
    # through each other (marching cubes and the smoothing did not, on every case seen); the intake refuses such a
    # surface. Each retry moves closer to the voxels; the last keeps the smoothed marching-cubes triangles.
    attempts = [(probabilities, True), (None, True), (probabilities, False)]
    if probabilities is None:
        attempts = [(None, True), (None, False)]
    failures = []
    for probs, uniform in attempts:
        what = f"{'probabilities' if probs is not None else 'labels'}, {'remeshed' if uniform else 'not remeshed'}"
        try:
            field, level = lumen_map(labels, probs)
            raw = smooth_surface(marching_cubes(field, level, labels.affine), cfg)
            if raw.n_cells == 0:
                raise GeometryError(f"{labels.source}: marching cubes found no surface")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "lumen.vtp"
                (remesh(raw, edge) if uniform else raw).save(path)
                vessel = _vessel(path)
            break
        except GeometryError as exc:
            failures.append(f"{what}: {str(exc).split(': ', 1)[-1]}")
    else:
        raise GeometryError(f"{labels.source}: no usable surface; " + "; ".join(failures))
    out = vessel.surface.copy()
    label_openings(out, vessel.openings)
    sac = sac_mask(np.asarray(out.points), labels)
    if (np.rint(labels.array) == LABEL_ANEURYSM).any():
        out.point_data[registry.FIELDS["sac"].key] = sac
    notes = tuple(f"retried after: {f}" for f in failures) + tuple(vessel.intake.repairs) + vessel.clip_messages
    return Reconstruction(out, vessel.openings, notes, int(sac.sum()), what)


def _vessel(path: Path):
    """``morph.prepare_vessel`` (openings, centerlines, ends cut square); when the centerlines fail — a network of
    vessels such as a circle of Willis, whose outlets vmtk cannot all reach — the surface with its openings named
    and its ends as the image cut them, saying why."""
    from cfdgen.intake import read_surface
    from cfdgen.morph import Vessel, prepare_vessel
    from cfdgen.openings import find_openings

    try:
        return prepare_vessel(path)
    except GeometryError as exc:
        if "centerline" not in str(exc):
            raise
        intake = read_surface(path)
        openings = find_openings(intake.surface)
        note = f"ends not clipped (centerlines or clipping failed: {str(exc).split(': ', 1)[-1]})"
        return Vessel(intake, intake.surface, openings, None, (note,))


def reconstruct_command(labels_path: str | Path, out_dir: str | Path, cfg: ReconstructConfig = ReconstructConfig()):
    """``iahemo reconstruct``: DIR/surface.vtp (+ reconstruct.json); probabilities.nii.gz beside the labels is used."""
    labels_path = Path(labels_path)
    labels = read_image(labels_path)
    prob_path = labels_path.with_name("probabilities.nii.gz")
    probs = read_image_4d(prob_path) if prob_path.is_file() else None
    rec = reconstruct(labels, probs, cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(rec.surface, out / "surface.vtp")
    summary = {
        "source": str(labels_path),
        "contoured": rec.contoured,
        "points": rec.surface.n_points,
        "triangles": rec.surface.n_cells,
        "openings": [{"patch": o.patch, "radius_mm": o.radius, "center": o.center.tolist()} for o in rec.openings],
        "sac_points": rec.sac_points,
        "notes": list(rec.notes),
    }
    write_json(out / "reconstruct.json", summary)
    return summary


def read_image_4d(path: Path) -> Image:
    """A (X, Y, Z, C) NIfTI such as ``probabilities.nii.gz`` (``read_image`` accepts only 3D volumes)."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:
        raise ImageError(f"{path}: not a readable NIfTI image ({type(exc).__name__})") from None
    return Image(data, np.asarray(img.affine, dtype=np.float64), str(path))


def _rim_distance(mesh: pv.PolyData) -> np.ndarray:
    """Distance (mm) of every vertex to the nearest vertex of an open rim."""
    from scipy.spatial import cKDTree

    from cfdgen.surface import boundary_loops, triangles

    loops = boundary_loops(triangles(mesh))
    pts = np.asarray(mesh.points)
    if not loops:
        return np.full(len(pts), np.inf)
    return cKDTree(pts[np.concatenate(loops)]).query(pts)[0]


def surface_distance(a: pv.PolyData, b: pv.PolyData, rim_margin: float = 1.0) -> dict[str, float]:
    """Symmetric point-to-surface distance (mm) of two open lumen surfaces over their common extent: a vertex
    counts only when its closest vertex on the other surface is more than ``rim_margin`` from that surface's
    open rims (the two may end at different places along the vessels)."""
    from scipy.spatial import cKDTree

    d_all, keep_all = [], []
    for p, q in ((a, b), (b, a)):
        pts = np.asarray(p.points)
        _, nearest = cKDTree(np.asarray(q.points)).query(pts)
        keep = _rim_distance(q)[nearest] > rim_margin
        d = np.abs(pv.PolyData(pts).compute_implicit_distance(q.extract_surface(algorithm="dataset_surface"))
                   ["implicit_distance"])
        d_all.append(d[keep])
        keep_all.append(keep)
    d = np.concatenate(d_all)
    return {
        "mean_mm": float(d.mean()),
        "p95_mm": float(np.percentile(d, 95)),
        "max_mm": float(d.max()),
        "compared_fraction": float(np.concatenate(keep_all).mean()),
    }
