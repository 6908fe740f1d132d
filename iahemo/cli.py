"""``iahemo`` command line: thin wrappers over library functions, one subcommand each.

Every expected failure (bad case file, unusable geometry, bad configuration) is an ``IahemoError`` and ends
as one readable message on stderr with exit status 2; only real bugs show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cfdgen import __version__
from cfdgen.errors import ConfigError, IahemoError

if TYPE_CHECKING:
    from surrogate.assess import AssessConfig

HELP_ACCURATE = (
    "the shipped steady-channel models (a steady OpenFOAM solve of the surface as an input): TAWSS error 6.5 %% "
    "instead of 20 %%, impingement regions IoU 0.71 instead of 0.24, at 30-36 s per case (predict, assess) "
    "instead of 0.2-8 s"
)


class SolverFailed(IahemoError):
    """A CFD run diverged or crashed; its folder and QC JSON exist and say why."""


def _options_file(path: str | None) -> dict:
    """The YAML mapping of training options in ``path`` ({} without one)."""
    import yaml

    if not path:
        return {}
    try:
        options = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the options file ({type(exc).__name__})") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value")
    return options


def _cmd_synth(args) -> int:
    from cfdgen.synth.cohort import generate_cohort
    from cfdgen.synth.config import SynthConfig

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1 (got {args.n})")
    cfg = SynthConfig() if args.spacing is None else SynthConfig(surface_spacing=args.spacing)
    rows = generate_cohort(args.n, args.seed, args.out, cfg, progress=not args.quiet)
    print(f"{len(rows)} cases in {args.out} (table: {Path(args.out) / 'cohort.csv'})")
    return 0


def _cmd_morph(args) -> int:
    from cfdgen.case import load_case
    from cfdgen.morph import measure, write_outputs

    case = load_case(args.case) if args.case else None
    result = measure(args.surface, case)
    paths = write_outputs(result, args.out, str(args.surface))
    v = result.values
    print(
        f"{result.kind} aneurysm: size {v['size']:.2f} mm, H {v['height']:.2f} mm, N {v['neck_diameter']:.2f} mm, "
        f"AR {v['aspect_ratio']:.2f}, SR {v['size_ratio']:.2f} -> {paths['json']}"
    )
    return 0


def _cmd_mesh(args) -> int:
    from cfdgen.case import load_case
    from cfdgen.prepare import mesh_case

    case = load_case(args.case) if args.case else None
    prep, qc = mesh_case(args.surface, args.out, args.level, case)
    sac = "no aneurysm found" if prep.morphology is None else f"{prep.morphology.kind} aneurysm"
    print(
        f"{qc.cells} cells ({qc.cell_types.get('prisms', 0)} prisms in {qc.layer_count} layers), "
        f"checkMesh: {qc.checkmesh_verdict}; {sac}; {len(prep.openings)} openings -> {args.out}"
    )
    return 0


def _cmd_simulate(args) -> int:
    from cfdgen.case import load_case
    from cfdgen.simulate import SolverConfig, run_boundary_conditions, simulate

    case = load_case(args.case) if args.case else None
    extra = None
    if args.design:
        from cfdgen.uq import run_boundary_conditions_for

        if not args.sample:
            raise ConfigError("--design needs --sample (the design row's sample_id)")
        bc, extra = run_boundary_conditions_for(args.design, args.sample, args.mesh, case)
    else:
        bc = run_boundary_conditions(args.mesh, case, profile=args.profile)
    for note in bc.notes:
        print(f"note: {note}")
    if args.steady:
        return _simulate_steady(args, bc, extra)
    solver = SolverConfig(
        cycles=args.cycles,
        n_procs=args.np,
        max_co=args.max_co,
        n_outer=args.n_outer,
        **({"interpolation": args.interpolation} if args.interpolation else {}),
    )
    result = simulate(args.mesh, args.out, bc, solver, end_time=args.end_time, progress=not args.quiet, extra=extra)
    qc = result.qc
    if result.status != "converged":
        raise SolverFailed(f"run {result.status}: {result.reason} (recorded in {result.run_dir / 'qc.json'})")
    print(
        f"converged: {qc['time_steps']} steps to t = {qc['simulated_time']:.4g} s in {qc['wall_time_s']:.0f} s, "
        f"max Courant {qc['max_courant']:.2f}, inflow error {qc['inlet_flow_error']:+.2%} -> {result.run_dir}"
    )
    return 0


def _simulate_steady(args, bc, extra) -> int:
    from cfdgen.steady import SteadyConfig, simulate_steady

    if args.np != 1:
        raise ConfigError("--steady runs on one rank: a draft or tiny mesh converges in seconds (leave out --np)")
    cfg = SteadyConfig(**({"interpolation": args.interpolation} if args.interpolation else {}))
    result = simulate_steady(args.mesh, args.out, bc, cfg, progress=not args.quiet, extra=extra)
    if result.status != "converged":
        raise SolverFailed(f"run {result.status}: {result.reason} (recorded in {result.run_dir / 'qc.json'})")
    qc = result.qc
    print(f"converged: steady at the mean inflow in {qc['iterations']} iterations, {qc['wall_time_s']:.0f} s -> "
          f"{result.run_dir}")  # fmt: skip
    return 0


def _cmd_post(args) -> int:
    from cfdgen.post import postprocess

    result = postprocess(args.run, args.out)
    summary = result.summary
    w = summary["window"]
    text = f"wall indices over {w['n_times']} times in [{w['start_s']:.4g}, {w['end_s']:.4g}] s"
    if summary["sac"]:
        s = {
            k: (v["value"] if isinstance(v, dict) and v["value"] is not None else float("nan"))
            for k, v in summary["sac"].items()
        }
        text += (
            f"; sac TAWSS {s['tawss_mean']:.3g} Pa, nTAWSS {s['ntawss_mean']:.2f}, "
            f"max OSI {s['osi_max']:.3f}, LSA {s['lsa']:.1%}"
        )
    print(f"{text} -> {Path(args.out) if args.out else Path(args.run) / 'post'}")
    return 0


def _cmd_sample(args) -> int:
    from cfdgen.post import sample_run

    path = sample_run(args.run, args.out, n_points=args.points, seed=args.seed)
    print(f"{args.points} wall points -> {path}")
    return 0


def _cmd_gci(args) -> int:
    from cfdgen.atomic import write_json
    from cfdgen.verify import gci_of_runs

    if len(args.runs) != 3:
        raise ConfigError(f"gci needs exactly three post-processed runs (got {len(args.runs)})")
    try:
        res = gci_of_runs(tuple(args.runs), args.quantity, args.region)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.out:
        write_json(args.out, res)
    print(
        f"{res['quantity']}: {', '.join(f'{v:.4g}' for v in res['values'])} on {res['cells']} cells; "
        f"observed order {res['order']:.2f}, GCI(fine) {res['gci_fine']:.1%}"
    )
    return 0


def _cmd_uq_design(args) -> int:
    from cfdgen.uq import design_command

    design = design_command(args.case, args.method, args.n, args.out, args.seed, mesh_dir=args.mesh)
    for note in design.notes:
        print(f"note: {note}")
    print(
        f"{design.method} design: {design.n_runs} runs over {', '.join(design.names)} -> "
        f"{Path(args.out) / 'design.csv'}"
    )
    return 0


def _cmd_uq_analyse(args) -> int:
    from cfdgen.uq import analyse_command

    runs = None
    if args.runs:
        from cfdgen.uq import read_design

        if "{sample}" not in args.runs:
            raise ConfigError("--runs must contain {sample}, e.g. results/c1/tiny/uq_{sample}")
        runs = {sid: Path(args.runs.format(sample=sid)) for sid in read_design(args.dir).sample_ids}
    result = analyse_command(args.dir, runs)
    used = result.get("runs", {}).get("used", [])
    excluded = result.get("runs", {}).get("excluded", [])
    print(f"{len(used)} runs analysed, {len(excluded)} excluded -> {Path(args.dir) / 'uq.json'}")
    return 0


def _cmd_case_check(args) -> int:
    from cfdgen.case import load_case

    for path in args.cases:
        case = load_case(path)
        used = ", ".join(case.defaults_used) or "none"
        print(f"{case.path}: ok (id {case.id}; population defaults used: {used})")
    return 0


def _cmd_registry(args) -> int:
    from cfdgen import registry

    print(f"registry version {registry.REGISTRY_VERSION}")
    print("wall fields:")
    for f in registry.FIELDS.values():
        print(f"  {f.key:10s} {f.unit:6s} {f.kind:6s} {'target ' if f.target else '       '}{f.description}")
    print("morphology:")
    for p in registry.MORPHOLOGY.values():
        print(f"  {p.key:20s} {p.unit:5s} {p.description}")
    print(f"patches: {registry.INLET}, {registry.outlet(0)}, {registry.outlet(1)}, ..., {registry.WALL}")
    return 0


def _cmd_train(args) -> int:
    from surrogate.distil import MODEL_FILE, distil
    from surrogate.train import TrainConfig

    options = _options_file(args.config)
    for key in ("epochs", "ensemble", "points", "seed", "ema"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    cfg = TrainConfig.from_dict(options)
    _, result = distil(args.manifest, args.out, cfg, ablation=not args.no_ablation, progress=not args.quiet)
    h = result["headline"]
    print(
        f"held-out geometries ({result['n_samples']} runs): TAWSS eps {h['tawss_rel_l2']:.1%} "
        f"(mean field {h['baseline_mean_field_tawss_rel_l2']:.1%}, nearest neighbour "
        f"{h['baseline_nearest_neighbour_tawss_rel_l2']:.1%}, channel 3 alone {h['baseline_lofi_tawss_rel_l2']:.1%}), "
        f"OSI MAE {h['osi_mae']:.4f} -> {Path(args.out) / MODEL_FILE}"
    )
    return 0


def _cmd_evaluate(args) -> int:
    from cfdgen.atomic import write_json
    from surrogate.artifact import load_model
    from surrogate.data import load_clouds, with_channel3
    from surrogate.evaluate import evaluate, headline
    from surrogate.predict import DEFAULT_MODEL

    model = load_model(args.model or DEFAULT_MODEL)
    clouds = load_clouds(args.manifest, progress=not args.quiet)
    if args.channel3:
        clouds = with_channel3(clouds, args.channel3)
    result = evaluate(model, clouds, None, args.split, maps=Path(args.out) / "maps")
    result["headline"] = headline(result)
    write_json(Path(args.out) / "evaluation.json", result)
    h = result["headline"]
    print(f"{args.split}: TAWSS eps {h['tawss_rel_l2']:.1%}, OSI MAE {h['osi_mae']:.4f} -> {args.out}/evaluation.json")
    return 0


def _cmd_calibrate_spread(args) -> int:
    from surrogate.artifact import load_model, save_model
    from surrogate.data import load_clouds
    from surrogate.evaluate import calibrate_spread
    from surrogate.predict import DEFAULT_MODEL

    if Path(args.out).is_dir():  # refused before the fit, not by the rename after it
        raise IahemoError(f"{args.out} is a folder: -o names the model file to write (e.g. {args.out}/hemodynamics.pt)")
    model = load_model(args.model or DEFAULT_MODEL)
    clouds = load_clouds(args.manifest, progress=not args.quiet)
    scale = calibrate_spread(model, clouds, args.split)
    if not scale:
        raise IahemoError(f"{args.manifest}: no {args.split} runs to calibrate the spread on")
    n = sum(c.split == args.split for c in clouds)
    factors = ", ".join(f"{k} ×{v:.2f}" for k, v in scale.items())
    model.spread_scale = scale
    model.card = model.card.rstrip() + (
        f"\n\nSpread calibrated on the {n} {args.split} runs of `{args.manifest}` (`iahemo calibrate-spread`): "
        f"the members' standard deviation times {factors}.\n"
    )
    save_model(model, args.out)
    print(f"spread factors ({n} {args.split} runs): {factors} -> {args.out}")
    return 0


def _cmd_predict(args) -> int:
    from cfdgen.case import load_case
    from surrogate.predict import predict_surface

    case = load_case(args.case) if args.case else None
    r = predict_surface(args.surface, case, args.out, _models(args)[0], n_points=args.points)
    for note in r["notes"]:
        print(f"note: {note}")
    sac = r["sac"]
    text = (
        "no aneurysm sac"
        if sac is None
        else (
            f"sac TAWSS {sac['sac_tawss']:.2f} Pa (normalised {sac['sac_ntawss']:.2f}), "
            f"max OSI {sac['sac_osi_max']:.3f}, LSA {sac['lsa']:.1%}"
        )
    )
    flag = (
        "OUT OF DISTRIBUTION (the model never saw a case like this)" if r["out_of_distribution"] else "in distribution"
    )
    print(f"{text}; {flag}; network {r['timing_s']['network']:.2f} s -> {Path(args.out) / 'prediction.vtp'}")
    return 0


def _models(args) -> tuple[str | None, str | None]:
    """(--model, --region-model), or the shipped steady-channel pair for --accurate (not both)."""
    from surrogate.assess import ACCURATE_REGION_MODEL
    from surrogate.predict import ACCURATE_MODEL

    model, regions = getattr(args, "model", None), getattr(args, "region_model", None)
    if not args.accurate:
        return model, regions
    if model or regions:
        raise IahemoError("--accurate chooses the models itself: leave out --model and --region-model")
    return str(ACCURATE_MODEL), str(ACCURATE_REGION_MODEL)


def _assess_config(args, **options) -> AssessConfig:
    from surrogate.assess import AssessConfig

    model, regions = _models(args)
    return AssessConfig(bc_samples=args.bc_samples, model=model, region_model=regions, **options)


def _cmd_assess(args) -> int:
    from surrogate.assess import assess_command

    cfg = _assess_config(args)
    a = assess_command(args.source, args.case, args.out, cfg)
    for note in a["messages"]:
        print(f"note: {note}")
    grade = a["grade"] or "not computed"
    dist = a["grade_distribution"]
    spread = "" if not dist else " (" + ", ".join(f"{k} {dist[k]:.0%}" for k in ("low", "intermediate", "high")) + ")"
    phases = "not computable" if a["phases_score"] is None else str(a["phases_score"])
    ood = "; OUT OF DISTRIBUTION" if a["out_of_distribution"] else ""
    print(
        f"{a['pseudonym']}: grade {grade}{spread}; PHASES {phases}{ood}; {a['timing_s']['total']:.1f} s "
        f"-> {Path(args.out) / 'report.html'}"
    )
    return 0


def _cmd_report(args) -> int:
    from surrogate.report import write_report

    folder = Path(args.folder)
    path = folder / "assessment.json"
    if not path.is_file():
        raise IahemoError(f"{folder}: no assessment.json (run 'iahemo assess' first)")
    html, pdf = write_report(json.loads(path.read_text()), Path(args.out) if args.out else folder)
    print(f"{html}\n{pdf}")
    return 0


def _cmd_train_risk(args) -> int:
    from surrogate.risk import train_risk_command

    r = train_risk_command(args.labels, args.out)
    lo, hi = r.get("auc_ci95") or (float("nan"), float("nan"))
    print(f"cross-validated AUC {r['auc']:.3f} (95 % CI {lo:.3f}-{hi:.3f}), Brier {r['brier']:.3f} -> {args.out}")
    return 0


def _cmd_segment(args) -> int:
    from surrogate.segment import segment_command

    bad_seed = ConfigError("--seed takes x,y,z in mm (world coordinates of the image)")
    try:
        seeds = [[float(v) for v in seed.split(",")] for seed in args.seed] if args.seed else None
    except ValueError:
        raise bad_seed from None
    if seeds and any(len(p) != 3 for p in seeds):
        raise bad_seed
    s = segment_command(
        args.image,
        args.out,
        args.model,
        progress=None if args.quiet else print,
        method=args.method,
        seeds_mm=seeds,
        working_spacing=args.spacing,
    )
    v = s["volume_mm3"]
    print(
        f"{s['modality'].upper()} {tuple(s['shape'])}: vessel {v['vessel']:.0f} mm3, aneurysm {v['aneurysm']:.0f} mm3 "
        f"in {s['seconds']['segment']:.1f} s -> {Path(args.out) / 'labels.nii.gz'}"
    )
    return 0


def _cmd_reconstruct(args) -> int:
    from cfdgen.reconstruct import reconstruct_command

    s = reconstruct_command(args.labels, args.out)
    for note in s["notes"]:
        print(f"note: {note}")
    sac = f", sac on {s['sac_points']} points" if s["sac_points"] else ""
    print(
        f"{s['triangles']} triangles, {len(s['openings'])} openings ({', '.join(o['patch'] for o in s['openings'])})"
        f"{sac} -> {Path(args.out) / 'surface.vtp'}"
    )
    return 0


def _cmd_train_seg(args) -> int:
    from surrogate.seg_train import TrainSegConfig, train_segmentation

    options = _options_file(args.config)
    for key in ("steps", "min_dice", "seed", "init"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    r = train_segmentation(args.data, args.out, TrainSegConfig.from_dict(options), progress=not args.quiet)
    m = r["test"]["mean"]
    print(
        f"held-out cases {', '.join(r['split']['test'])}: Dice vessel {m['vessel']['dice']:.3f}, lumen "
        f"{m['lumen']['dice']:.3f}"
        + (f", aneurysm {m['aneurysm']['dice']:.3f}" if "aneurysm" in m else "")
        + f"; gate passed -> {r['model']}"
    )
    return 0


def _service_config(args):
    from surrogate.service.config import ServiceConfig

    return ServiceConfig.load(args.config, data=args.data)


def _cmd_serve(args) -> int:
    from surrogate.service.app import serve

    serve(_service_config(args), args.host, args.port)
    return 0


def _cmd_user_add(args) -> int:
    from surrogate.service.lifecycle import add_user
    from surrogate.service.security import UnsafeName

    try:
        token = add_user(_service_config(args), args.name, admin=args.admin)
    except UnsafeName as exc:
        raise ConfigError(str(exc)) from None
    print(token)
    return 0


def _cmd_assess_batch(args) -> int:
    from surrogate.service.batch import run_batch
    from surrogate.service.compute import ComputeConfig

    compute = ComputeConfig(scheduler=args.scheduler, workers=args.workers)
    r = run_batch(args.sources, args.out, compute, _assess_config(args, points=args.points))
    print(f"{r['done']} done, {r['failed']} failed in {r['wall_time_s']:.0f} s -> {Path(args.out) / 'batch.json'}")
    return 0 if r["failed"] == 0 else 2


def _cmd_demo(args) -> int:
    from iahemo.demo import run_demo

    run_demo(Path(args.out), n=args.n, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iahemo", description="Intracranial-aneurysm hemodynamics toolkit.")
    parser.add_argument("--version", action="version", version=f"iahemo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a synthetic aneurysm cohort (surfaces, CTA, labels, truth)")
    p.add_argument("-n", type=int, default=6, help="number of cases (default 6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--out", default="cases", help="output folder (default cases/)")
    p.add_argument("--spacing", type=float, default=None, help="surface grid spacing in mm (default 0.2)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("morph", help="aneurysm morphology of a lumen surface (JSON, VTP with sac mask, PNG)")
    p.add_argument("surface", help="STL, VTP, VTK, OBJ or PLY lumen surface")
    p.add_argument("--case", default=None, help="case.yaml with units and hints")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=_cmd_morph)

    p = sub.add_parser("mesh", help="prepare a lumen surface (ends, sac, flow extensions) and mesh it with gmsh")
    p.add_argument("surface", help="STL, VTP, VTK, OBJ or PLY lumen surface")
    p.add_argument("--level", default="coarse", help="mesh level: draft, tiny, coarse (default), medium or fine")
    p.add_argument("--case", default=None, help="case.yaml with units and hints")
    p.add_argument("-o", "--out", required=True, help="mesh folder (OpenFOAM polyMesh, geometry/, qc.json)")
    p.set_defaults(func=_cmd_mesh)

    p = sub.add_parser("simulate", help="run pimpleFoam on a mesh folder under the case's boundary conditions")
    p.add_argument("mesh", help="mesh folder written by 'iahemo mesh'")
    p.add_argument("--case", default=None, help="case.yaml with the measurements (population defaults without)")
    p.add_argument("--end-time", type=float, default=None, help="simulated seconds (default: --cycles periods)")
    p.add_argument("--cycles", type=float, default=3.0, help="cardiac cycles to simulate (default 3)")
    p.add_argument("--np", type=int, default=1, help="MPI ranks (default 1)")
    p.add_argument("--max-co", type=float, default=0.8, help="maximum Courant number (default 0.8)")
    p.add_argument("--n-outer", type=int, default=1, help="PIMPLE outer correctors (2 or more for Co > 1)")
    p.add_argument(
        "--interpolation",
        default=None,
        help="face interpolation: 'linear' or 'skewCorrected linear' (default: the library's, see README)",
    )
    p.add_argument("--profile", default="womersley", choices=["womersley", "parabolic", "plug"])
    p.add_argument(
        "--steady",
        action="store_true",
        help="steady flow at the mean inflow with simpleFoam (seconds instead of minutes; TAWSS = |WSS|, OSI = 0)",
    )
    p.add_argument("--design", default=None, help="UQ design folder: take the BCs from one of its rows")
    p.add_argument("--sample", default=None, help="sample_id of the design row (with --design)")
    p.add_argument("-o", "--out", required=True, help="run folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("post", help="wall indices (TAWSS, OSI, RRT, ECAP, WSSG, ...), wall VTP and maps of a run")
    p.add_argument("run", help="run folder written by 'iahemo simulate'")
    p.add_argument("-o", "--out", default=None, help="output folder (default RUN/post)")
    p.set_defaults(func=_cmd_post)

    p = sub.add_parser("sample", help="resample a run's wall fields to a fixed-size point cloud (HDF5)")
    p.add_argument("run", help="run folder written by 'iahemo simulate'")
    p.add_argument("--points", type=int, default=16384, help="points in the cloud (default 16384)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True, help="sample folder (sample.h5)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("gci", help="grid convergence index of a sac (or wall) quantity over three mesh levels")
    p.add_argument("runs", nargs="+", help="three post-processed run folders of one case (any order)")
    p.add_argument("--quantity", default="tawss_mean", help="key under --region in post/summary.json")
    p.add_argument("--region", default="sac", choices=["sac", "wall"], help="wall: for a case without a sac")
    p.add_argument("-o", "--out", default=None, help="write the result as JSON")
    p.set_defaults(func=_cmd_gci)

    p = sub.add_parser("uq", help="uncertainty of the boundary conditions: designs (SALib/chaospy) and analysis")
    uq_sub = p.add_subparsers(dest="uq_command", required=True)
    c = uq_sub.add_parser("design", help="write DIR/design.csv (one row per run) and DIR/design.json")
    c.add_argument("case", help="case.yaml with the measurements and their uncertainties")
    c.add_argument("--method", required=True, choices=["sobol", "morris", "pce", "spread"])
    c.add_argument("-n", type=int, required=True, help="sobol: base size (power of 2); morris: trajectories; pce: runs")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--mesh", default=None, help="mesh folder (its outlet count decides whether the split varies)")
    c.add_argument("-o", "--out", required=True)
    c.set_defaults(func=_cmd_uq_design)
    c = uq_sub.add_parser("analyse", help="Sobol/Morris/PCE of the runs in DIR/runs/<sample_id>/ -> DIR/uq.json")
    c.add_argument("dir", help="design folder")
    c.add_argument("--runs", default=None, help="run folder pattern with {sample} (default DIR/runs/{sample})")
    c.set_defaults(func=_cmd_uq_analyse)

    p = sub.add_parser("case", help="case files")
    case_sub = p.add_subparsers(dest="case_command", required=True)
    c = case_sub.add_parser("check", help="validate case.yaml files against the schema")
    c.add_argument("cases", nargs="+", help="case.yaml files or case folders")
    c.set_defaults(func=_cmd_case_check)

    p = sub.add_parser("train", help="train the hemodynamics surrogate on a dataset manifest and evaluate it")
    p.add_argument("--manifest", required=True, help="dataset manifest.json (workflow output or packed copy)")
    p.add_argument("--config", default=None, help="YAML of training options (surrogate.train.TrainConfig)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--ensemble", type=int, default=None, help="ensemble members (default 3)")
    p.add_argument("--points", type=int, default=None, help="points per cloud per training step")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--ema", type=float, default=None, help="moving average of the weights per step (0 off; 0.999)")
    p.add_argument("--no-ablation", action="store_true", help="skip the model without channel 3")
    p.add_argument("-o", "--out", required=True, help="model folder (hemodynamics.pt, card, curves, evaluation)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a surrogate model on a manifest's held-out geometries")
    p.add_argument("--manifest", required=True)
    p.add_argument("--model", default=None, help="model file (default: the shipped model)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument(
        "--channel3", default=None, help="channel-3 fields kept beside the manifest (e.g. its runs' steady solves)"
    )
    p.add_argument("-o", "--out", required=True, help="folder for evaluation.json and maps/")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "calibrate-spread", help="scale a surrogate's ensemble spread to a standard deviation of its error on a split"
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--model", default=None, help="model file (default: the shipped model)")
    p.add_argument("--split", default="val", choices=["train", "val", "test"], help="runs to fit on (default val)")
    p.add_argument("-o", "--out", required=True, help="model file to write (may be the one read)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_calibrate_spread)

    p = sub.add_parser("predict", help="surrogate wall fields (TAWSS, OSI, ...) of a lumen surface in seconds")
    p.add_argument("surface", help="STL, VTP, VTK, OBJ or PLY lumen surface")
    p.add_argument("--case", default=None, help="case.yaml with the measurements (population defaults without)")
    p.add_argument("--model", default=None, help="model file (default: the shipped model)")
    p.add_argument("--accurate", action="store_true", help=HELP_ACCURATE)
    p.add_argument("--points", type=int, default=16384, help="wall points (default 16384)")
    p.add_argument("-o", "--out", required=True, help="output folder (prediction.vtp/.json/.png)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("assess", help="image or surface -> morphology -> surrogate -> risk grade -> report (no CFD)")
    p.add_argument("source", help="lumen surface (STL, VTP, VTK, OBJ, PLY) or image (NIfTI, MHA/NRRD, DICOM folder)")
    p.add_argument("--case", default=None, help="case.yaml with measurements and clinical fields")
    p.add_argument("--model", default=None, help="hemodynamics surrogate (default: the shipped model)")
    p.add_argument(
        "--region-model", default=None, help="high-risk-region model made on that surrogate's output (default: shipped)"
    )
    p.add_argument("--accurate", action="store_true", help=HELP_ACCURATE)
    p.add_argument("--bc-samples", type=int, default=8, help="BC uncertainty samples (default 8)")
    p.add_argument("-o", "--out", required=True, help="output folder (report.html/.pdf, result.vtp, assessment.json)")
    p.set_defaults(func=_cmd_assess)

    p = sub.add_parser("report", help="render report.html and report.pdf again from DIR/assessment.json")
    p.add_argument("folder", help="an 'iahemo assess' output folder")
    p.add_argument("-o", "--out", default=None, help="write the report elsewhere (default: the folder)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("train-risk", help="fit the rupture-risk logistic model on a labelled table (CV, AUC, Brier)")
    p.add_argument("--labels", required=True, help="CSV: case_id, ruptured, and the feature columns")
    p.add_argument("-o", "--out", required=True, help="folder for risk_model.json, risk_cv.json, reliability.png")
    p.set_defaults(func=_cmd_train_risk)

    p = sub.add_parser("segment", help="vessel/aneurysm labels of a CTA/MRA (NIfTI, MHA/NRRD, DICOM folder)")
    p.add_argument("image", help="image file or DICOM series folder")
    p.add_argument("--model", default=None, help="segmentation model (default: the shipped model)")
    p.add_argument(
        "--method",
        default="unet",
        choices=["unet", "threshold"],
        help="threshold: half-maximum region growing from --seed points or the network's confident voxels",
    )
    p.add_argument(
        "--seed",
        action="append",
        default=None,
        metavar="X,Y,Z",
        help="a point inside the vessel (mm, world RAS); repeatable; for --method threshold",
    )
    p.add_argument(
        "--spacing",
        type=float,
        default=None,
        help="working spacing in mm instead of the model's (vessels far wider than cerebral ones: scale it)",
    )
    p.add_argument("-o", "--out", required=True, help="folder for labels.nii.gz, probabilities.nii.gz, segment.json")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_segment)

    p = sub.add_parser("reconstruct", help="lumen surface (VTP, mm, openings named, sac) from a label map")
    p.add_argument("labels", help="labels.nii.gz of 'iahemo segment' (its probabilities.nii.gz is used when beside)")
    p.add_argument("-o", "--out", required=True, help="folder for surface.vtp and reconstruct.json")
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("train-seg", help="train the segmentation U-Net (case split, accuracy gate, model card)")
    p.add_argument("data", nargs="+", help="synthetic cohort folder(s) or imagesTr/labelsTr folder(s)")
    p.add_argument("--config", default=None, help="YAML of options (surrogate.seg_train.TrainSegConfig)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--min-dice", type=float, default=None, help="the gate: test Dice below this fails training")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--init", default=None, help="fine-tune from this segmentation model")
    p.add_argument("-o", "--out", required=True, help="folder for segmentation.pt, evaluation.json, card, curves")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train_seg)

    p = sub.add_parser("serve", help="the web terminal and HTTP API (jobs run on dask; OpenAPI at /openapi.json)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data", default=None, help="data folder: database, secret, job store (default service_data/)")
    p.add_argument("--config", default=None, help="YAML of service options (surrogate.service.config.ServiceConfig)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("user", help="service users")
    user_sub = p.add_subparsers(dest="user_command", required=True)
    c = user_sub.add_parser("add", help="create a user and print its API token (stored only as a hash)")
    c.add_argument("name")
    c.add_argument("--admin", action="store_true", help="may see workers, storage use and the audit log")
    c.add_argument("--data", default=None, help="the service's data folder (default service_data/)")
    c.add_argument("--config", default=None, help="YAML of service options (for db_url)")
    c.set_defaults(func=_cmd_user_add)

    p = sub.add_parser("assess-batch", help="assess many cases on dask (a local cluster or --scheduler ADDRESS)")
    p.add_argument("sources", nargs="+", help="case folders, case.yaml files, or surface/image files")
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: a local cluster)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--accurate", action="store_true", help=HELP_ACCURATE)
    p.add_argument("--bc-samples", type=int, default=8, help="BC uncertainty samples (default 8)")
    p.add_argument("--points", type=int, default=8192, help="surrogate wall points (default 8192)")
    p.add_argument("-o", "--out", required=True, help="OUT/<case id>/ per case and OUT/batch.json")
    p.set_defaults(func=_cmd_assess_batch)

    p = sub.add_parser("registry", help="list the field, morphology and patch names with units")
    p.set_defaults(func=_cmd_registry)

    p = sub.add_parser("demo", help="the README's demo job")
    p.add_argument("-o", "--out", default="demo_out")
    p.add_argument("-n", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IahemoError as exc:
        for line in str(exc).splitlines() or ["unknown error"]:
            print(f"iahemo: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iahemo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
