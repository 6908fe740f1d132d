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


@dataclass(frozen=True, eq=False)
class Stalk:
    """A capped cylinder from inside the parent vessel up into the dome: the aneurysm's neck.

    Without it a small neck under a large dome meets the vessel almost tangentially, and no method (nor a
    radiologist) can say where the neck is; real necks are waists with a clear angle to the parent wall.
    """

    base: np.ndarray
    top: np.ndarray
    radius: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        axis = self.top - self.base
        length = float(np.linalg.norm(axis))
        u = axis / length
        rel = np.asarray(p) - self.base
        along = rel @ u
        radial = np.linalg.norm(rel - along[:, None] * u, axis=1)
        d_rad = radial - self.radius
        d_ax = np.abs(along - length / 2) - length / 2
        outside = np.hypot(np.maximum(d_rad, 0), np.maximum(d_ax, 0))
        return outside + np.minimum(np.maximum(d_rad, d_ax), 0.0)

    def mesh(self, subdivisions: int) -> pv.PolyData:
        """Lateral wall only (outward normals): both ends sit inside the vessel and the dome."""
        axis = self.top - self.base
        length = float(np.linalg.norm(axis))
        n_theta = 40 * 2 ** (subdivisions - 3)
        n_z = max(4, int(length / (2 * np.pi * self.radius / n_theta)))
        theta = np.linspace(0, 2 * np.pi, n_theta, endpoint=False)
        z = np.linspace(0, length, n_z + 1)
        rot = frame(axis, 0.0)
        ring = np.stack([np.cos(theta), np.sin(theta)], axis=1) * self.radius
        pts = np.array([[*c, zz] for zz in z for c in ring]) @ rot + self.base
        faces = []
        for k in range(n_z):
            for i in range(n_theta):
                a, b = k * n_theta + i, k * n_theta + (i + 1) % n_theta
                c, d = a + n_theta, b + n_theta
                faces += [(3, a, b, d), (3, a, d, c)]
        return pv.PolyData(pts, np.array(faces).ravel())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.minimum(self.base, self.top), np.maximum(self.base, self.top)
        return lo - self.radius, hi + self.radius


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
    """A sac built from ellipsoids (a lobulated sac has a daughter bleb) and a neck stalk."""

    kind: str  # sphere | ellipsoid | lobulated
    parts: tuple[Ellipsoid | Stalk, ...]

    def sdf(self, p: np.ndarray) -> np.ndarray:
        return np.min([e.sdf(p) for e in self.parts], axis=0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        b = [e.bounds() for e in self.parts]
        return np.min([x[0] for x in b], axis=0), np.max([x[1] for x in b], axis=0)
