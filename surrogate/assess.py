"""``iahemo assess``: a new patient's surface → morphology → surrogate wall fields (over the BC uncertainty) →
high-risk regions → rupture-risk grade and clinical scores → report. No CFD anywhere.

Outputs in DIR: ``assessment.json`` (grade, grade_distribution, phases_score, morphology, sac-level hemodynamics
with 5–95 % intervals, what was default and what could not be computed), ``result.vtp`` (the wall with every
predicted field, its spread, the sac mask and the risk regions, for ParaView / 3D Slicer), ``report.html`` and
``report.pdf``, and the PNG maps they show. Written into DIR.partial and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from cfdgen import __version__, registry
from cfdgen.atomic import atomic_dir, write_json
from cfdgen.case import Case, default_case, load_case
from cfdgen.imaging import IMAGE_SUFFIXES
from cfdgen.pointcloud import dataset_name
from surrogate.artifact import SurrogateModel, file_sha256, load_model
from surrogate.data import LOFI, input_vector
from surrogate.metrics import sac_quantities
from surrogate.predict import DEFAULT_MODEL, _on_surface, channel3_inputs, draw_channel3, ood_verdict, predict_wall

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_REGION_MODEL = MODELS / "regions.pt"
# made on predict.ACCURATE_MODEL's output; the pair: TAWSS ε 6.5 % and impingement IoU 0.71 on held-out geometries
# against the default pair's 20 % and 0.24, at 36 s per case instead of 8 s (README, "Performance")
ACCURATE_REGION_MODEL = MODELS / "regions_steady.pt"
DEFAULT_RISK_MODEL = MODELS / "risk_model.json"
DISCLAIMER = (
    "Research use only. Not a medical device and not clinically validated: the hemodynamics come from a learned "
    "surrogate trained on synthetic geometries, and the grade from a demonstration model fitted on synthetic labels "
    "drawn from published effect directions. Do not use for diagnosis or treatment decisions."
)
SAC_KEYS = ("sac_tawss", "sac_ntawss", "sac_osi_max", "lsa")


@dataclass(frozen=True)
class AssessConfig:
    bc_samples: int = 8  # surrogate evaluations over the case's BC uncertainty ("spread" design)
    points: int = 8192
    seed: int = 0
    model: str | None = None  # hemodynamics surrogate (default: shipped)
    region_model: str | None = None
    risk_model: str | None = None
    seg_model: str | None = None  # image input: the segmentation model (default: shipped)


def _interval(values: list[float], unit: str) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "p05": float(np.percentile(v, 5)),
        "p95": float(np.percentile(v, 95)),
        "unit": unit,
    }


def _bc_designs(case: Case, geometry_root: Path, base, n: int, seed: int) -> list:
    """The nominal BCs plus n quasi-random draws of the case's measured (or population) uncertainties."""
    from cfdgen.simulate import inlet_area, outlet_diameters
    from cfdgen.uq import design_boundary_conditions, make_design

    diam = outlet_diameters(geometry_root)
    design = make_design(case, "spread", n, seed, n_outlets=len(diam))
    return [
        design_boundary_conditions(base, {**design.fixed, **row}, diam, inlet_area(geometry_root))
        for _, row in design.rows()
    ]


def _surface_from_image(image: Path, folder: Path, cfg: AssessConfig, say) -> tuple[Path, dict]:
    """segment -> reconstruct into ``folder``; the reconstructed surface and what both steps reported."""
    from cfdgen.reconstruct import reconstruct_command
    from surrogate.segment import segment_command

    say("segmentation: 3D U-Net on the image")
    seg = segment_command(image, folder, cfg.seg_model, figure_title="")  # no file name (identifiers) in the figure
    say("reconstruction: marching cubes, smoothing, remeshing, ends cut square")
    rec = reconstruct_command(folder / "labels.nii.gz", folder)
    return folder / "surface.vtp", {"segment": seg, "reconstruct": rec}


def assess(
    source: str | Path, case: Case | None, out_dir: str | Path, cfg: AssessConfig | None = None, progress=None
) -> dict:
    """The whole inference path for one surface; returns the assessment dict (also written as JSON)."""
    from cfdgen.prepare import PrepareConfig, prepare_geometry
    from cfdgen.wall_inputs import MeanFlow, lofi_fields, read_openings_mm, surface_inputs
    from surrogate import risk, scores
    from surrogate.region_net import load_region_model
    from surrogate.regions import CATEGORIES, region_fractions
    from surrogate.report import pseudonym, write_report

    cfg = cfg or AssessConfig()
    say = progress or (lambda msg: None)
    source = original = Path(source)
    is_image = source.name.lower().endswith(IMAGE_SUFFIXES) or source.is_dir()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model: SurrogateModel = load_model(cfg.model or DEFAULT_MODEL)
    case_file = None if case is None else str(case.path)
    case_id = case.id if case is not None else source.stem
    messages: list[str] = []
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        segmentation = None
        if is_image:
            source, segmentation = _surface_from_image(source, tmp / "segmentation", cfg, say)
            messages.append(
                "the lumen surface was reconstructed from the image by the segmentation model (trained on synthetic "
                "CTA only); check segmentation/labels.nii.gz over the image before trusting anything below"
            )
            timings["segmentation"] = time.perf_counter() - t0
        say("geometry: openings, centerlines, sac, flow extensions")
        prep = prepare_geometry(source, case, PrepareConfig(remesh=False))
        timings["geometry"] = time.perf_counter() - t0
        inp = surface_inputs(source, case, tmp, n_points=cfg.points, seed=cfg.seed, prep=prep)
        case = case or default_case(inp.geometry_dir / "geometry.json", case_id)
        if prep.morphology is None:
            messages.append("no aneurysm sac detected: sac-level hemodynamics, risk regions and the grade not computed")
        c = inp.cloud

        say(f"surrogate: nominal BCs + {cfg.bc_samples} BC samples")
        t1 = time.perf_counter()
        g0, names = input_vector(inp.inputs)
        base, channel3 = channel3_inputs(model, source, case, inp)
        nominal = predict_wall(model, inp, lofi=base)
        verdict = ood_verdict(model, g0, names, nominal.latent)
        openings = read_openings_mm(inp.geometry_dir)
        d_parent = inp.morphology.get("parent_diameter", float("nan"))
        sac_rows = []
        for bc in _bc_designs(case, tmp, inp.bc, cfg.bc_samples, cfg.seed):
            lofi, _ = lofi_fields(c, inp.geometry_dir, openings, MeanFlow.of(bc), context=False)
            p = predict_wall(model, inp, bc.to_vector(), draw_channel3(base, c.fields[LOFI], lofi[LOFI], channel3))
            q = sac_quantities(c.points, c.sac, p.mean["tawss"], p.mean["osi"], d_parent)
            if q is not None:
                sac_rows.append(q)
        timings["surrogate"] = time.perf_counter() - t1

        say("risk regions and grade")
        labels = np.zeros(len(c.points), dtype=np.int64)
        region_info = None
        region_file = cfg.region_model or DEFAULT_REGION_MODEL
        if prep.morphology is not None:
            rm = load_region_model(region_file)
            labels = rm.predict(c.points, c.normals, c.sac, nominal.mean, d_parent)
            region_info = region_fractions(labels, c.sac)
        size = inp.morphology.get("size")
        phases = scores.phases(case.patient, size).to_dict()
        elapss = scores.elapss(case.patient, size).to_dict()
        if phases["score"] is None:
            messages.append(f"PHASES {phases['reason']}")
        hemo = None
        grade = grade_p = distribution = None
        risk_model = risk.RiskModel.load(cfg.risk_model or DEFAULT_RISK_MODEL)
        if sac_rows:
            units = {"sac_tawss": "Pa", "sac_ntawss": "1", "sac_osi_max": "1", "lsa": "1"}
            hemo = {k: _interval([r[k] for r in sac_rows], units[k]) for k in SAC_KEYS}
            features = [{**inp.morphology, **r} for r in sac_rows]
            nominal_sac = sac_quantities(c.points, c.sac, nominal.mean["tawss"], nominal.mean["osi"], d_parent)
            grade_p = float(risk_model.predict_proba({**inp.morphology, **nominal_sac})[0])
            grade = risk_model.grade(grade_p)
            distribution = risk.grade_distribution(risk_model, features)
        elif prep.morphology is not None:
            messages.append("the sac has no parent-artery region next to it: sac-level hemodynamics not computed")

        say("outputs")
        wall = pv.read(tmp / "geometry" / "surface.vtp")
        for key, v in nominal.mean.items():
            wall.point_data[dataset_name(key)] = _on_surface(wall, c.points, v)
            wall.point_data[f"{dataset_name(key)}_std"] = _on_surface(wall, c.points, nominal.std[key])
        _, nearest = _nearest(c.points, np.asarray(wall.points))
        wall.point_data["RISK_REGION"] = labels[nearest]
        wall.field_data["risk_region_categories"] = np.array(CATEGORIES)
        wall.field_data["out_of_distribution"] = np.array([int(verdict["out_of_distribution"])])
        wall.save(tmp / "result.vtp")
        figures = _figures(wall, tmp, pseudonym(case_id), prep.morphology is not None)  # no case id in images
        if segmentation is not None:
            shutil.copy(tmp / "segmentation" / "segment.png", tmp / "segmentation.png")
            figures = {"segmentation": str(tmp / "segmentation.png"), **figures}
        assessment = {
            "case_id": case_id,
            "pseudonym": pseudonym(case_id),
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "code_version": __version__,
            "inputs": {
                "source": str(original),
                "kind": "image" if is_image else "surface",
                "case_file": case_file,
                "defaults_used": list(case.defaults_used),
                "notes": list(inp.notes),
            },
            "patient": {
                k: getattr(case.patient, k) for k in ("age", "sex", "population", "hypertension", "earlier_sah", "site")
            },
            "morphology": None
            if prep.morphology is None
            else {
                "kind": prep.morphology.kind,
                "values": inp.morphology,
                "units": {k: registry.MORPHOLOGY[k].unit for k in inp.morphology},
            },
            "bc": dict(zip(inp.inputs.bc_names, map(float, inp.inputs.bc))),
            "hemodynamics": hemo,
            "risk_regions": region_info,
            "phases": phases,
            "phases_score": phases["score"],
            "elapss": elapss,
            "grade": grade,
            "grade_probability": grade_p,
            "grade_distribution": distribution,
            "out_of_distribution": verdict["out_of_distribution"],
            "ood": verdict,
            "models": {
                "surrogate": {
                    "file": str(cfg.model or DEFAULT_MODEL),
                    "sha256": file_sha256(cfg.model or DEFAULT_MODEL),
                    "members": len(model.members),
                    "trained_on": model.training.get("data_description", ""),
                    "test_metrics": model.metrics.get("summary", {}),
                    "channel3": channel3,
                },
                "regions": None  # read only where there is a sac to mark
                if region_info is None
                else {"file": str(region_file), "sha256": file_sha256(region_file), "held_out_iou": rm.held_out_iou()},
                "risk": {
                    "file": str(cfg.risk_model or DEFAULT_RISK_MODEL),
                    "demonstration": bool(risk_model.demonstration),
                    "label_source": risk_model.label_source,
                },
            },
            "segmentation": segmentation,
            "figures": figures,
            "messages": messages,
            "disclaimer": DISCLAIMER,
            "timing_s": {k: round(v, 2) for k, v in timings.items()},
        }
        write_report(assessment, tmp)
        timings["total"] = time.perf_counter() - t0
        assessment["timing_s"] = {k: round(v, 2) for k, v in timings.items()}
        write_json(tmp / "assessment.json", assessment)
    assessment["figures"] = {k: str(out_dir / Path(v).name) for k, v in figures.items()}
    return assessment


def _nearest(points: np.ndarray, query: np.ndarray):
    from scipy.spatial import cKDTree

    return cKDTree(points).query(query)


def _figures(wall: pv.PolyData, folder: Path, title: str, has_sac: bool) -> dict[str, str]:
    from cfdgen.post import tawss_osi_figure

    view = wall.copy()
    view.point_data[registry.FIELDS["tawss"].key] = wall.point_data[dataset_name("tawss")]
    view.point_data[registry.FIELDS["osi"].key] = wall.point_data[dataset_name("osi")]
    figures = {"wall_maps": str(tawss_osi_figure(view, folder / "wall_maps.png", title=f"surrogate: {title}"))}
    if has_sac:
        figures["risk_regions"] = str(_region_figure(wall, folder / "risk_regions.png"))
    return figures


def _region_figure(wall: pv.PolyData, path: Path) -> Path:
    from cfdgen.atomic import atomic_path

    pts = np.asarray(wall.points)
    axes = np.linalg.eigh(np.cov((pts - pts.mean(0)).T))[1]
    plotter = pv.Plotter(off_screen=True, shape=(1, 2), window_size=(1200, 600), border=False)
    for j, sign in enumerate((1, -1)):
        plotter.subplot(0, j)
        plotter.add_mesh(
            wall.copy(),
            scalars="RISK_REGION",
            cmap=["#d9d9d9", "#3b6fd9", "#e0402f"],
            clim=(0, 2),
            n_colors=3,
            show_scalar_bar=j == 0,
            categories=True,
            annotations={0: "none", 1: "low WSS + high OSI", 2: "impingement"},
            scalar_bar_args={"title": "risk region", "vertical": False, "n_labels": 0},
        )
        plotter.view_vector(sign * axes[:, 0], viewup=axes[:, 1])
        plotter.reset_camera()
    with atomic_path(path) as tmp:
        plotter.screenshot(str(tmp))
    plotter.close()
    return path


def assess_command(source: str, case_file: str | None, out_dir: str, cfg: AssessConfig | None = None) -> dict:
    case = load_case(case_file) if case_file else None
    return assess(source, case, out_dir, cfg, progress=lambda m: print(f"... {m}", flush=True))
