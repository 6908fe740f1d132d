"""The synthetic cohort: sample, build and write cases (``iahemo synth``).

Each case is drawn from ``numpy.random.default_rng([seed, index])``, so case *i* of a seed is the same
whatever ``n`` is, and on any machine. A case folder appears only when every file in it is written.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pyvista as pv
import yaml
from tqdm import tqdm

from cfdgen import centerline as cla
from cfdgen import registry
from cfdgen.atomic import atomic_dir, write_text
from cfdgen.case import load_case
from cfdgen.errors import GeometryError
from cfdgen.surface import boundary_loops, triangles
from cfdgen.synth import anatomy as anat_mod
from cfdgen.synth.build import LumenField, lumen_surface, morphology_truth, openings
from cfdgen.synth.config import GENERATOR_VERSION, SynthConfig
from cfdgen.synth.cta import synthetic_cta

TRUTH_FILE = "morphology_truth.json"
TABLE_COLUMNS = ("id", "kind", "shape", *registry.MORPHOLOGY)


@dataclass(frozen=True, eq=False)
class SynthCase:
    case_id: str
    anatomy: anat_mod.Anatomy
    surface: pv.PolyData
    truth: dict
    case_yaml: dict


def case_id(seed: int, index: int) -> str:
    return f"syn{seed}_{index:03d}"


def _kind_and_shape(index: int, cfg: SynthConfig) -> tuple[str, str]:
    # cycle kinds fastest so that any 2·len(shapes) consecutive cases cover every combination
    return cfg.kinds[index % len(cfg.kinds)], cfg.shapes[(index // len(cfg.kinds)) % len(cfg.shapes)]


def _measurements(rng: np.random.Generator) -> dict:
    """Plausible Doppler and pressure-wire values; some are left out so defaults get exercised."""
    m: dict = {}
    if rng.uniform() < 0.9:
        v = float(np.exp(rng.normal(np.log(0.30), 0.2)))
        m["doppler"] = {
            "mean_velocity": {"value": round(v, 3), "sd": round(0.1 * v, 3), "unit": "m/s"},
            "heart_rate": {"value": round(float(rng.uniform(55, 90)), 1), "sd": 3.0, "unit": "bpm"},
            "location": "parent artery, 10 mm proximal to the aneurysm",
        }
    if rng.uniform() < 0.8:
        dia = float(rng.uniform(60, 90))
        sys_ = dia + float(rng.uniform(35, 70))
        m["pressure_wire"] = {
            "mean": {"value": round(dia + (sys_ - dia) / 3, 1), "sd": 4.0, "unit": "mmHg"},
            "systolic": {"value": round(sys_, 1), "sd": 5.0, "unit": "mmHg"},
            "diastolic": {"value": round(dia, 1), "sd": 5.0, "unit": "mmHg"},
        }
    return m


def _patient(rng: np.random.Generator, kind: str) -> dict:
    site = "ICA" if kind == "sidewall" else str(rng.choice(["MCA", "AComm", "posterior"]))
    return {
        "age": int(rng.integers(35, 81)),
        "sex": str(rng.choice(["F", "M"], p=[0.65, 0.35])),
        "population": str(rng.choice(["other", "japanese", "finnish"], p=[0.8, 0.1, 0.1])),
        "hypertension": bool(rng.uniform() < 0.4),
        "earlier_sah": bool(rng.uniform() < 0.1),
        "site": site,
    }


def build_case(seed: int, index: int, cfg: SynthConfig) -> SynthCase:
    """Sample an anatomy until it builds into a clean surface with one neck; no files are written."""
    rng = np.random.default_rng([seed, index])
    kind, shape = _kind_and_shape(index, cfg)
    make = anat_mod.sidewall if kind == "sidewall" else anat_mod.bifurcation
    last = "no attempt"
    for _ in range(cfg.max_attempts):
        anat = make(rng, cfg, shape)
        if not anat_mod.plausible_vessels(anat):
            last = "implausible vessel"
            continue
        try:
            truth = morphology_truth(anat, cfg.truth_subdivisions, cfg.extension)
            if not (1.5 <= truth["neck_diameter"] <= 7.5 and truth["height"] >= 1.0):
                last = f"neck {truth['neck_diameter']:.2f} mm / height {truth['height']:.2f} mm out of range"
                continue
            surface = lumen_surface(anat, cfg.surface_spacing, cfg.extension)
        except GeometryError as exc:
            last = str(exc)
            continue
        break
    else:
        raise GeometryError(f"case {case_id(seed, index)}: no valid anatomy in {cfg.max_attempts} attempts ({last})")

    cid = case_id(seed, index)
    mrng = np.random.default_rng([seed, index, 1])
    ops = openings(anat)
    truth = {
        "id": cid,
        "kind": kind,
        "shape": shape,
        **truth,
        "units": {k: p.unit for k, p in registry.MORPHOLOGY.items()},
        "openings": [
            {"patch": o.patch, "center": o.center.tolist(), "normal": o.normal.tolist(), "radius": o.radius}
            for o in ops
        ],
        "construction": anat.params,
        "generator": {"version": GENERATOR_VERSION, "config_digest": cfg.digest(), "seed": seed, "index": index},
    }
    case_yaml = {
        "id": cid,
        "description": f"synthetic {kind} aneurysm ({shape} sac), generator v{GENERATOR_VERSION}",
        "synthetic": True,
        "input": {"surface": "surface.vtp", "image": "image.nii.gz", "labels": "labels.nii.gz", "units": "mm"},
        "hints": {"kind": kind},
        "patient": _patient(mrng, kind),
        "measurements": _measurements(mrng),
    }
    _label_openings(surface, ops)
    return SynthCase(cid, anat, surface, truth, case_yaml)


def _label_openings(surface: pv.PolyData, ops) -> None:
    """Point array ``opening_id``: index into the openings list on each rim, -1 elsewhere."""
    ids = np.full(surface.n_points, -1, np.int8)
    p = np.asarray(surface.points)
    centers = np.array([o.center for o in ops])
    for loop in boundary_loops(triangles(surface)):
        k = int(np.argmin(np.linalg.norm(centers - p[loop].mean(0), axis=1)))
        ids[loop] = k
    surface.point_data[registry.OPENING_ID] = ids
    surface.field_data[registry.OPENING_PATCH] = [o.patch for o in ops]


def centerlines_polydata(anat: anat_mod.Anatomy) -> pv.PolyData:
    blocks = []
    for k, b in enumerate(anat.branches):
        cl = b.centerline
        poly = pv.lines_from_points(cl.points)
        poly.point_data[cla.RADIUS_ARRAY] = cl.radius
        poly.point_data[cla.ABSCISSA_ARRAY] = cl.abscissa
        poly.point_data[cla.CURVATURE_ARRAY] = cl.curvature
        poly.point_data[cla.TORSION_ARRAY] = cl.torsion
        poly.point_data[cla.TANGENT_ARRAY] = cl.tangent
        poly.point_data[cla.BRANCH_ARRAY] = np.full(len(cl.points), k, np.int32)
        blocks.append(poly)
    return pv.merge(blocks, merge_points=False)


def write_case(sc: SynthCase, out_dir: Path, cfg: SynthConfig) -> Path:
    """Write the case folder atomically: all of it appears at once or none of it."""
    seed, index = sc.truth["generator"]["seed"], sc.truth["generator"]["index"]
    rng = np.random.default_rng([seed, index, 2])
    lumen = LumenField(sc.anatomy, cfg.extension)
    p = np.asarray(sc.surface.points)
    vol = synthetic_cta(
        rng, sc.anatomy, lumen, p.min(0) - cfg.image_margin, p.max(0) + cfg.image_margin, cfg.image_spacing
    )
    truth = {**sc.truth, "image": vol.params}
    target = out_dir / sc.case_id
    with atomic_dir(target) as tmp:
        sc.surface.save(tmp / "surface.vtp")
        centerlines_polydata(sc.anatomy).save(tmp / "centerlines.vtp")
        for name, data in (("image.nii.gz", vol.image), ("labels.nii.gz", vol.labels)):
            img = nib.Nifti1Image(data, vol.affine)
            img.header.set_xyzt_units("mm")
            img.set_qform(vol.affine, code=1)
            img.set_sform(vol.affine, code=1)
            nib.save(img, tmp / name)
        (tmp / TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n")
        (tmp / "case.yaml").write_text(yaml.safe_dump(sc.case_yaml, sort_keys=False))
        load_case(tmp / "case.yaml")  # never publish a case our own schema rejects
    return target


def is_current(folder: Path, cfg: SynthConfig) -> bool:
    """True when ``folder`` holds a complete case made by this generator version and configuration."""
    try:
        gen = json.loads((folder / TRUTH_FILE).read_text())["generator"]
    except (OSError, ValueError, KeyError):
        return False
    return gen.get("version") == GENERATOR_VERSION and gen.get("config_digest") == cfg.digest()


def generate_cohort(
    n: int, seed: int, out_dir: str | Path, cfg: SynthConfig | None = None, progress: bool = True
) -> list[dict]:
    """Generate cases 0..n-1 of ``seed`` under ``out_dir`` (skipping current ones); return their truth rows."""
    cfg = cfg or SynthConfig()
    out_dir = Path(out_dir)
    rows = []
    for index in tqdm(range(n), desc="synthetic cases", unit="case", disable=not progress):
        folder = out_dir / case_id(seed, index)
        if not is_current(folder, cfg):
            write_case(build_case(seed, index, cfg), out_dir, cfg)
        rows.append(json.loads((folder / TRUTH_FILE).read_text()))
    write_table(rows, out_dir / "cohort.csv")
    return rows


def table_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    for r in rows:
        w.writerow([r[c] if c in ("id", "kind", "shape") else f"{r[c]:.4g}" for c in TABLE_COLUMNS])
    return buf.getvalue()


def write_table(rows: list[dict], path: Path) -> None:
    write_text(path, table_text(rows))


def config_dict(cfg: SynthConfig) -> dict:
    return asdict(cfg)
