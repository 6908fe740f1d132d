"""Aneurysm sac primitives: implicit functions (for the lumen surface and image) and fine meshes (for truth)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv


@dataclass(frozen=True, eq=False)
class Ellipsoid:
    """An ellipsoid (a sphere when all semi-axes agree); ``axes`` rows are its unit axis directions."""

    center: np.ndarray
    semi: np.ndarray  # (3,) semi-axis lengths, mm
    axes: np.ndarray  # (3, 3)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Approximate signed distance with the exact zero set (scaled level of |q / semi|)."""
        q = (np.asarray(p) - self.center) @ self.axes.T
        return (np.linalg.norm(q / self.semi, axis=1) - 1.0) * float(self.semi.min())

    def mesh(self, subdivisions: int) -> pv.PolyData:
        """Closed triangulated surface with outward normals."""
        unit = pv.Icosphere(radius=1.0, nsub=subdivisions)
        pts = (np.asarray(unit.points) * self.semi) @ self.axes + self.center
        return pv.PolyData(pts, unit.faces)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        ext = np.sqrt(((self.axes * self.semi[:, None]) ** 2).sum(axis=0))
        return self.center - ext, self.center + ext


def sphere(center, radius: float) -> Ellipsoid:
    return Ellipsoid(np.asarray(center, float), np.full(3, float(radius)), np.eye(3))


def frame(axis: np.ndarray, spin: float) -> np.ndarray:
    """Orthonormal rows (e1, e2, axis) with e1 rotated by ``spin`` about ``axis``."""
    axis = axis / np.linalg.norm(axis)
    a = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(axis, a)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    c, s = np.cos(spin), np.sin(spin)
    return np.array([c * e1 + s * e2, -s * e1 + c * e2, axis])


@dataclass(frozen=True, eq=False)
class SacShape:
    """A sac built from one or more ellipsoids (a lobulated sac has a daughter bleb)."""

    kind: str  # sphere | ellipsoid | lobulated
    parts: tuple[Ellipsoid, ...]

    def sdf(self, p: np.ndarray) -> np.ndarray:
        return np.min([e.sdf(p) for e in self.parts], axis=0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        b = [e.bounds() for e in self.parts]
        return np.min([x[0] for x in b], axis=0), np.max([x[1] for x in b], axis=0)
