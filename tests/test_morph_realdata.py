"""The morph pipeline on surfaces nobody here designed (skipped when ../shared/realdata is absent)."""

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from cfdgen.morph import measure


def test_anxplore_sac_mask_matches_the_published_one(realdata):
    path = realdata / "anxplore178_semisynthetic" / "AnXplore178_FSI_00045_surface.vtu"
    res = measure(path)
    ref = pv.read(path)
    _, nearest = cKDTree(np.asarray(ref.points) * res.intake.scale_to_mm).query(np.asarray(res.surface.points))
    theirs = (np.asarray(ref.point_data["aneurysm"]) > 0.5)[nearest]
    ours = res.detection.point_mask.astype(bool)
    dice = 2 * (ours & theirs).sum() / (ours.sum() + theirs.sum())
    print(f"AnXplore 178: Dice {dice:.3f}, {res.kind}, " + ", ".join(f"{k} {v:.2f}" for k, v in res.values.items()))
    assert dice > 0.9
    assert res.kind == "sidewall"
    assert 1.0 < res.values["neck_diameter"] < 6.0 and 0.5 < res.values["aspect_ratio"] < 2.0
