"""Centerlines as arrays: points, radius, arclength, Frenet quantities. Pure numpy; vmtk only produces them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# vmtk's array name for the radius of the maximum inscribed sphere; kept so files open alike in vmtk tools.
RADIUS_ARRAY = "MaximumInscribedSphereRadius"
# Names of the other per-point arrays our centerline files carry (vmtk's where vmtk has one).
ABSCISSA_ARRAY = "Abscissa"
CURVATURE_ARRAY = "Curvature"
TORSION_ARRAY = "Torsion"
TANGENT_ARRAY = "FrenetTangent"
BRANCH_ARRAY = "BranchId"


@dataclass(frozen=True, eq=False)
class Centerline:
    """One branch, ordered in the flow direction. Lengths in mm."""

    points: np.ndarray  # (n, 3)
    radius: np.ndarray  # (n,)
    tangent: np.ndarray  # (n, 3) unit, flow direction
    curvature: np.ndarray  # (n,) 1/mm
    torsion: np.ndarray  # (n,) 1/mm
    name: str = "parent"

    @cached_property
    def abscissa(self) -> np.ndarray:
        steps = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        return np.concatenate([[0.0], np.cumsum(steps)])

    @property
    def length(self) -> float:
        return float(self.abscissa[-1])

    def nearest_index(self, p: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(self.points - np.asarray(p), axis=1)))

    def index_at(self, s: float) -> int:
        """Index of the point whose abscissa is closest to ``s`` (clamped to the branch)."""
        return int(np.argmin(np.abs(self.abscissa - np.clip(s, 0.0, self.length))))

    def radius_at(self, s: float) -> float:
        return float(np.interp(s, self.abscissa, self.radius))


def frenet_from_derivatives(d1: np.ndarray, d2: np.ndarray, d3: np.ndarray):
    """Unit tangent, curvature and torsion from the first three derivatives of any parametrisation."""
    speed = np.linalg.norm(d1, axis=1)
    cross = np.cross(d1, d2)
    cross_n = np.linalg.norm(cross, axis=1)
    curvature = cross_n / speed**3
    with np.errstate(invalid="ignore", divide="ignore"):
        torsion = np.where(cross_n > 1e-12, np.einsum("ij,ij->i", cross, d3) / cross_n**2, 0.0)
    return d1 / speed[:, None], curvature, torsion
