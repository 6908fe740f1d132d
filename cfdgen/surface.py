"""Triangle-surface topology and I/O helpers shared by every geometry stage (pure numpy + pyvista)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from cfdgen.atomic import atomic_path


def triangles(mesh: pv.PolyData) -> np.ndarray:
    """(m, 3) vertex ids; the mesh must hold triangles only."""
    if mesh.n_cells == 0:
        return np.zeros((0, 3), np.int64)
    if not mesh.is_all_triangles:
        mesh = mesh.triangulate()
    return np.asarray(mesh.faces).reshape(-1, 4)[:, 1:].astype(np.int64)


def _edges(tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0, return_counts=True)


@dataclass(frozen=True)
class Topology:
    n_points: int
    n_triangles: int
    n_edges: int
    boundary_edges: int
    nonmanifold_edges: int
    n_loops: int
    n_components: int

    @property
    def euler(self) -> int:
        return self.n_points - self.n_edges + self.n_triangles

    @property
    def genus(self) -> float:
        """Genus of a connected orientable surface with ``n_loops`` holes: χ = 2 − 2g − loops."""
        return (2 * self.n_components - self.n_loops - self.euler) / 2

    @property
    def manifold(self) -> bool:
        return self.nonmanifold_edges == 0


def boundary_loops(tri: np.ndarray) -> list[np.ndarray]:
    """Ordered vertex ids of every open boundary loop (edges used by exactly one triangle)."""
    edges, counts = _edges(tri)
    b = edges[counts == 1]
    nxt: dict[int, list[int]] = {}
    for a, c in b:
        nxt.setdefault(int(a), []).append(int(c))
        nxt.setdefault(int(c), []).append(int(a))
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            cand = [v for v in nxt[cur] if v != prev and v not in seen]
            if not cand:
                break
            prev, cur = cur, cand[0]
            seen.add(cur)
            loop.append(cur)
        loops.append(np.array(loop))
    return loops


def topology(mesh: pv.PolyData) -> Topology:
    tri = triangles(mesh)
    edges, counts = _edges(tri)
    used = np.unique(tri)
    comp = mesh.extract_cells(np.arange(mesh.n_cells)).connectivity().cell_data["RegionId"] if mesh.n_cells else [0]
    return Topology(
        n_points=len(used),
        n_triangles=len(tri),
        n_edges=len(edges),
        boundary_edges=int((counts == 1).sum()),
        nonmanifold_edges=int((counts > 2).sum()),
        n_loops=len(boundary_loops(tri)),
        n_components=int(np.max(comp)) + 1,
    )


def orient_outward(mesh: pv.PolyData, inside_point_field) -> pv.PolyData:
    """Flip all triangles if their normals point into the lumen, judged by an implicit field (< 0 inside)."""
    tri = triangles(mesh)
    p = np.asarray(mesh.points)
    n = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])
    c = p[tri].mean(axis=1)
    eps = 0.05
    probe = c + eps * n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    if np.mean(inside_point_field(probe) > 0) < 0.5:
        tri = tri[:, ::-1]
        mesh = pv.PolyData(p, np.hstack([np.full((len(tri), 1), 3), tri]).ravel())
    return mesh


def voxelize(closed: pv.PolyData, origin, spacing, shape) -> np.ndarray:
    """Boolean occupancy (voxel centre inside the closed surface) on an axis-aligned grid, (nx, ny, nz)."""
    from vtkmodules.vtkImagingStencil import vtkImageStencilToImage, vtkPolyDataToImageStencil

    stencil = vtkPolyDataToImageStencil()
    stencil.SetInputData(closed)
    stencil.SetOutputOrigin(*map(float, origin))
    stencil.SetOutputSpacing(*map(float, spacing))
    stencil.SetOutputWholeExtent(0, shape[0] - 1, 0, shape[1] - 1, 0, shape[2] - 1)
    to_image = vtkImageStencilToImage()
    to_image.SetInputConnection(stencil.GetOutputPort())
    to_image.SetInsideValue(1)
    to_image.SetOutsideValue(0)
    to_image.Update()
    values = pv.wrap(to_image.GetOutput()).point_data.active_scalars
    return np.asarray(values).reshape(shape[::-1]).transpose(2, 1, 0).astype(bool)


def write_atomic(mesh: pv.DataSet, path: str | Path) -> None:
    """Save a VTK dataset (format from the suffix) without ever leaving a partial file at ``path``."""
    with atomic_path(path) as tmp:
        mesh.save(tmp)
