"""Morphology through the whole pipeline (openings → vmtk centerlines → sac isolation → indices) on exact
shapes: sphere and ellipsoid caps on straight and curved cylinders, against the construction's own exact
morphology (the sac parts clipped by the exact tube, 81,920-triangle parts).

Stated resolution: lumen surface from a 0.1 mm marching-cubes grid projected onto the exact zero set; neck
level 0.02 radii, cut at the crease (these surfaces have an exact crease where sac and tube meet). H, W, N, AR
within 2 %, NSI/EI/UI within 0.01/0.02/0.01. Measured Nov 2026, worst of 8: W 1.6 %, N 1.3 %, AR 1.3 %,
H 0.2 %, EI 0.004, UI 0.006. Following the neck down to 0.005 radii (hysteresis) lets it creep along the
saddle-shaped neck of a sphere centred on the curved tube's wall (H, AR 2.7 %, UI 0.043), so it stays off.
"""

import numpy as np
import pytest

from cfdgen.morphology import sac_shape
from cfdgen.openings import find_openings
from cfdgen.sac_detect import SacConfig, detect_sac
from cfdgen.synth.anatomy import Anatomy
from cfdgen.synth.build import lumen_surface, morphology_truth
from cfdgen.synth.sac import Ellipsoid, SacShape, frame, sphere
from cfdgen.synth.vessel import Branch, spline_centerline
from cfdgen.vmtk_centerlines import compute_centerlines

FINE = SacConfig(threshold=0.02, threshold_low=0.02)
TOL_REL = {"height": 0.02, "width": 0.02, "neck_diameter": 0.02, "aspect_ratio": 0.02}
TOL_ABS = {"nsi": 0.01, "ei": 0.02, "ui": 0.01}


def parent(kind: str, r: float):
    if kind == "straight":
        ctrl = np.array([[0.0, 0.0, z] for z in (0.0, 10.0, 20.0, 30.0)])
    else:  # an arc of radius 12 mm (curvature 0.083/mm, like a siphon)
        th = np.linspace(-0.9, 0.9, 7)
        ctrl = np.c_[12.0 * np.sin(th), 12.0 * (1 - np.cos(th)), np.zeros_like(th)]
    return spline_centerline(ctrl, r, r, None, "parent")


def anatomy(kind: str, shape: str, offset: float, r: float = 2.0, big_r: float = 2.5) -> Anatomy:
    """Sac centre ``offset`` sac radii outside the wall, on the outer side of any bend."""
    cl = parent(kind, r)
    i = len(cl.points) // 2
    t = cl.tangent[i]
    up = np.array([0.0, 1.0, 0.0]) if kind == "straight" else np.array([0.0, -1.0, 0.0])
    up = up - (up @ t) * t
    up /= np.linalg.norm(up)
    center = cl.points[i] + up * (r + offset * big_r)
    if shape == "sphere":
        part = sphere(center, big_r)
    else:
        part = Ellipsoid(center, np.array([big_r, 0.8 * big_r, 1.4 * big_r]), frame(up, 0.3))
    return Anatomy("sidewall", (Branch(cl, True, True),), SacShape(shape, (part,)), i, {})


CASES = [
    (k, s, o)
    for k in ("straight", "curved")
    for s, o in (("sphere", 0.0), ("sphere", 0.4), ("ellipsoid", 0.4), ("ellipsoid", 0.7))
]


@pytest.mark.parametrize("kind, shape, offset", CASES)
def test_caps_on_cylinders(kind, shape, offset):
    anat = anatomy(kind, shape, offset)
    truth = morphology_truth(anat, 6, 10.0)
    surface = lumen_surface(anat, 0.1, 10.0)
    paths = compute_centerlines(surface, find_openings(surface)).paths
    measured = sac_shape(detect_sac(surface, paths, FINE).sac)
    report = {}
    for key, tol in TOL_REL.items():
        report[key] = (measured[key] - truth[key]) / truth[key]
        assert abs(report[key]) <= tol, (key, report)
    for key, tol in TOL_ABS.items():
        report[key] = measured[key] - truth[key]
        assert abs(report[key]) <= tol, (key, report)
    print(kind, shape, offset, {k: round(v, 4) for k, v in report.items()})
