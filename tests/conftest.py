"""Shared fixtures: one small synthetic cohort per test session (generated once, reused by every test)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

# Four cases cover sidewall/bifurcation and sphere/ellipsoid/lobulated (kinds cycle fastest).
COHORT_N, COHORT_SEED = 6, 11


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    from cfdgen.synth.cohort import generate_cohort

    out = tmp_path_factory.mktemp("cohort")
    rows = generate_cohort(COHORT_N, COHORT_SEED, out, progress=False)
    return out, rows


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    return REALDATA
