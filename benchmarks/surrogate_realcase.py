"""The surrogate against its own CFD on the shared real surface (issue: "C0015 against its own CFD run").

    .venv/bin/python benchmarks/surrogate_realcase.py [--surface ../shared/realdata/vampy_aneurisk_C0015/artery.vtp]
        [--level draft|coarse] [--np 2] [--work work/c0015] [--model surrogate/models/hemodynamics.pt]
        [--manifest data/dataset_draft/manifest.json] [--tag _NAME]

Runs the dataset's CFD chain on the surface when ``WORK/sample_LEVEL/sample.h5`` is missing (iahemo mesh --level
LEVEL, simulate 1.5 cycles at Courant 5 with 2 outer correctors, the last cycle recorded, post, sample 8,192
points; no case file, so population BCs), then scores the surrogate on that sample exactly as the held-out
evaluation does, with both baselines, and records the out-of-distribution verdict. A model whose channel 3 is a
steady solve gets it as predict would: simpleFoam on the run's mesh at the run's BCs (WORK/steady_LEVEL). Writes
benchmarks/results/surrogate_realcase.json (draft, the dataset's level) or surrogate_realcase_LEVEL.json, a
side-by-side map (CFD, surrogate, error) and a copy of the run's CFD wall maps (TAWSS, OSI); ``--tag`` appends
to those names (another model scored beside the shipped one). ``tap_level``: how much of the TAP error is one
offset over the wall. Above the draft
level the JSON also says how far the draft CFD is from this level's (both resampled to this level's points):
the floor under any surrogate trained on draft-level CFD. The surface never enters the repository or the dataset.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "realdata" / "vampy_aneurisk_C0015" / "artery.vtp"


def run_cfd(surface: Path, work: Path, level: str, n_procs: int) -> Path:
    """The dataset's chain at ``level`` through the CLI, skipping steps whose product exists; the sample's path."""
    iahemo = str(REPO / ".venv" / "bin" / "iahemo")
    mesh, run, sample = work / f"mesh_{level}", work / f"run_{level}", work / f"sample_{level}"
    simulate = ["simulate", str(mesh), "--cycles", "1.5", "--max-co", "5", "--n-outer", "2", "--np", str(n_procs)]
    steps = [  # (product, arguments)
        (mesh, ["mesh", str(surface), "--level", level, "-o", str(mesh)]),
        (run, [*simulate, "-q", "-o", str(run)]),
        (run / "post", ["post", str(run)]),
        (sample, ["sample", str(run), "--points", "8192", "-o", str(sample)]),
    ]
    for product, args in steps:
        if not product.exists():
            subprocess.run([iahemo, *args], check=True)
    return sample / "sample.h5"


def level_gap(coarse: Path, draft: Path) -> dict:
    """How far the draft level's CFD is from a finer level's on the same surface: the draft sample's fields at the
    finer sample's points (nearest neighbour: both clouds are dense and evenly spaced), scored like a prediction."""
    import numpy as np
    from scipy.spatial import cKDTree

    from surrogate.data import read_cloud
    from surrogate.metrics import mae, rel_l2

    fine, rough = read_cloud(coarse), read_cloud(draft)
    _, idx = cKDTree(rough.points).query(fine.points)
    tawss, osi = fine.fields["tawss"], fine.fields["osi"]
    return {
        "tawss_rel_l2": rel_l2(rough.fields["tawss"][idx], tawss),
        "osi_mae": mae(rough.fields["osi"][idx], osi),
        "tawss_mean_pa": {"draft": float(np.mean(rough.fields["tawss"])), "finer": float(np.mean(tawss))},
        "lofi_tawss_rel_l2": rel_l2(np.linalg.norm(fine.lofi, axis=1), tawss),
    }


def steady_channel3(real, model, sample: Path, work: Path, level: str):
    """``real`` with channel 3 as a steady-channel model reads it (a steady solve on the run's own mesh at the run's
    own BCs, the model's interpolation), and what the solve did; the model's mesh level must be the run's."""
    from dataclasses import replace

    from cfdgen.bc import BoundaryConditions
    from cfdgen.pointcloud import read_sample
    from cfdgen.steady import ChannelSettings, steady_shear_at

    settings = ChannelSettings.from_dict(model.channel3)
    if settings.level != level:
        raise SystemExit(f"the model's channel 3 is solved on {settings.level} meshes; this run is {level}")
    bc = BoundaryConditions.from_dict(read_sample(sample).provenance["bc_sample"])
    shear = steady_shear_at(work / f"mesh_{level}", work / f"steady_{level}", bc, real.points, settings.solver())
    return replace(real, lofi=shear.wss, channel3=dict(model.channel3)), {**model.channel3, **shear.record()}


def tap_level(predicted, cfd, reference: float) -> dict:
    """How much of the TAP error is one offset over the wall: the mean offset (Pa) and ε with it removed (relative
    to the CFD's TAP above the run's reference level, as the evaluation scores TAP)."""
    import numpy as np

    error, above = predicted - cfd, cfd - reference
    return {
        "mean_offset_pa": float(error.mean()),
        "cfd_wall_mean_above_reference_pa": float(above.mean()),
        "tap_rel_l2_without_offset": float(np.linalg.norm(error - error.mean()) / np.linalg.norm(above)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--surface", default=str(REAL))
    ap.add_argument(
        "--level",
        default="draft",
        choices=["draft", "tiny", "coarse", "medium", "fine"],
        help="mesh level of the CFD run (the dataset's is draft)",
    )
    ap.add_argument("--np", type=int, default=1, help="MPI ranks of the CFD run")
    ap.add_argument("--work", default=str(REPO / "work" / "c0015"))
    ap.add_argument("--model", default=str(REPO / "surrogate" / "models" / "hemodynamics.pt"))
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    ap.add_argument("--tag", default="", help="appended to the result's name: another model beside the shipped one")
    args = ap.parse_args()
    surface, work, level = Path(args.surface), Path(args.work), args.level
    if not surface.is_file():
        raise SystemExit(f"{surface} is absent (../shared/realdata): nothing to compare")

    from cfdgen import steady
    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import PRESSURE, PRESSURE_REFERENCE, load_clouds, read_cloud
    from surrogate.evaluate import evaluate, headline
    from surrogate.predict import ood_verdict, predict_cloud

    sample = run_cfd(surface, work, level, args.np)
    model = load_model(args.model)
    real = read_cloud(sample, split="real", geometry=surface.stem, bc_sample="population")
    channel3 = dict(real.channel3)
    if model.channel3["model"] == steady.LOFI_MODEL:
        real, channel3 = steady_channel3(real, model, sample, work, level)
    train = [c for c in load_clouds(args.manifest) if c.split == "train"]
    suffix = ("" if level == "draft" else f"_{level}") + args.tag
    results = REPO / "benchmarks" / "results"
    maps = results / f"surrogate_realcase{suffix}"
    result = evaluate(model, [*train, real], split="real", maps=maps)
    p = predict_cloud(model, real)
    reference = dict(zip(real.global_names, real.globals_, strict=True)).get(PRESSURE_REFERENCE, 0.0)
    verdict = ood_verdict(model, real.globals_, real.global_names, p.latent)
    run_qc = json.loads((work / f"run_{level}" / "qc.json").read_text())
    qc = json.loads((work / f"mesh_{level}" / "qc.json").read_text())
    cfd_maps = maps / "cfd_tawss_osi.png"
    shutil.copyfile(work / f"run_{level}" / "post" / "tawss_osi.png", cfd_maps)
    out = {
        "benchmark": "surrogate_realcase",
        "surface": str(surface.relative_to(REPO.parent)) if surface.is_relative_to(REPO.parent) else str(surface),
        "cfd": {
            "mesh_level": qc["level"],
            "cells": qc["cells"],
            "layers": qc.get("layer_count"),
            "check_mesh": qc.get("checkmesh_verdict"),
            "ranks": args.np,
            "status": run_qc["status"],
            "simulated_s": run_qc.get("simulated_time"),
            "time_steps": run_qc.get("time_steps"),
            "wall_s": run_qc.get("wall_time_s"),
            "maps": str(cfd_maps.relative_to(REPO)),
        },
        "sac_detected": bool(real.sac.any()),
        "channel3": channel3,
        "model": str(Path(args.model).relative_to(REPO)) if Path(args.model).is_relative_to(REPO) else args.model,
        "headline": headline(result),
        "tap_level": tap_level(p.mean[PRESSURE], real.fields[PRESSURE], reference),
        "summary": result["summary"],
        "out_of_distribution": verdict["out_of_distribution"],
        "ood": verdict,
        "maps": [str(Path(m).relative_to(REPO)) for m in result.get("maps", [])],
        "machine": machine(),
    }
    if level != "draft" and (work / "sample_draft" / "sample.h5").is_file():
        out["draft_cfd_vs_this_level"] = level_gap(sample, work / "sample_draft" / "sample.h5")
    write_json(results / f"surrogate_realcase{suffix}.json", json.loads(json.dumps(out, default=float)))
    h = out["headline"]
    print(
        f"{surface.name} ({level}): TAWSS eps {h['tawss_rel_l2']:.1%} (mean field "
        f"{h['baseline_mean_field_tawss_rel_l2']:.1%}, "
        f"nearest neighbour {h['baseline_nearest_neighbour_tawss_rel_l2']:.1%}),"
        f" OSI MAE {h['osi_mae']:.4f}, out of distribution: {verdict['out_of_distribution']}"
    )


if __name__ == "__main__":
    main()
