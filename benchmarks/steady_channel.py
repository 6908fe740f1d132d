"""A steady CFD solve as channel 3: how close the steady wall shear of each committed run is to its pulsatile TAWSS,
and the per-run data for training a surrogate whose low-fidelity input is that steady field.

    .venv/bin/python benchmarks/steady_channel.py [--splits test val train] [--workers 2] -o work/steadych
    .venv/bin/python benchmarks/steady_channel.py --datasets -o work/steadych   # the two training manifests
    .venv/bin/python benchmarks/steady_channel.py --splits test val --max-iterations 500 -o work/steadych500
    .venv/bin/python benchmarks/steady_channel.py --datasets --max-iterations 500 -o work/steadych500  # held-out file

Why: simpleFoam at the mean inflow came within 5.9 / 9.0 % of the pulsatile TAWSS on two draft geometries
(steady_vs_pulsatile.json), where the default channel 3 (Poiseuille-Dean from the centerlines) is ~40 % off and the
learned surrogate ~21 %. If that holds over the held-out geometries, a one-minute steady solve is a far better
low-fidelity input than the closed form. For every geometry of the committed dataset (data/dataset_draft) the
case is rebuilt (``iahemo synth`` seed 11 by index, or the shipped case), meshed at the dataset's draft level, and
for every one of its runs simpleFoam is solved at that run's own boundary conditions (the sample's ``bc_sample``:
mean inflow, outlet pressures), with the dataset's interpolation scheme. The steady wall shear vector is read at
the run's sample points (closest wall point, linear in its triangle) into OUT/fields/<case>/<bc>.npz. A run that
stops at the iteration limit still gives its last iterate (recorded ``converged: false``): as an input feature
an unconverged iterate is usable, as a result it is not, so the accuracy table counts converged runs only.

Writes benchmarks/results/steady_channel.json: per run the relative L2 error of |τ_steady| against the CFD TAWSS
(the surrogate's ε; whole wall, on and off the sac, after one best scale factor) beside the Poiseuille-Dean channel 3
and the shipped surrogate on the same run (its committed evaluations), per split the means, per stage the seconds.
Resumable (OUT/records.json); a geometry runs in a process of its own.

``--max-iterations`` other than the committed fields' 3,000 (e.g. inference's cfdgen.steady.CHANNEL_ITERATIONS):
the JSON is steady_channel_<N>its.json and ``--datasets`` writes only OUT/channel3_heldout.h5, the held-out runs'
fields at that budget, to score a model trained on the 3,000-iteration fields as inference feeds it
(``iahemo evaluate --channel3``).
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

from cfdgen.steady import ChannelSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "data" / "dataset_draft" / "manifest.json"
SHIPPED = REPO / "cases"
# the held-out runs' steady fields, committed beside the dataset: the shipped steady-channel model is scored on them
HELDOUT = MANIFEST.parent / "channel3_steady_heldout.h5"
# the dataset's mesh level and config/dataset.yaml simulate.interpolation: the committed runs' own
SETTINGS = ChannelSettings(level="draft", interpolation="linear")
# the committed steady fields' iteration budget (SteadyConfig's); inference's: cfdgen.steady.CHANNEL_ITERATIONS
DATASET_ITERATIONS = 3000
ITERATIONS = DATASET_ITERATIONS  # this call's budget (--max-iterations)


def results_name() -> str:
    return "steady_channel.json" if ITERATIONS == DATASET_ITERATIONS else f"steady_channel_{ITERATIONS}its.json"


def case_dir_of(case_id: str, out: Path) -> Path:
    from cfdgen.synth.cohort import build_case, write_case
    from cfdgen.synth.config import SynthConfig

    if (SHIPPED / case_id / "case.yaml").is_file():
        return SHIPPED / case_id
    seed, index = case_id.removeprefix("syn").split("_")
    cfg = SynthConfig()
    return write_case(build_case(int(seed), int(index), cfg), out / "cases", cfg)


def one_geometry(case_id: str, samples: list[dict], out: Path) -> list[dict]:
    """Mesh one geometry once, then solve and read the steady field of each of its runs; failures are returned."""
    from cfdgen.bc import BoundaryConditions
    from cfdgen.case import load_case
    from cfdgen.pointcloud import read_sample
    from cfdgen.prepare import mesh_case
    from cfdgen.steady import steady_shear_at
    from surrogate.metrics import rel_l2

    work = out / "work" / case_id
    recs, seconds = [], {}
    try:
        t = time.perf_counter()
        case = load_case(case_dir_of(case_id, out))
        seconds["synth"] = time.perf_counter() - t
        t = time.perf_counter()
        _, qc = mesh_case(case.surface, work / "mesh", SETTINGS.level, case)
        seconds["mesh"] = time.perf_counter() - t
    except Exception as exc:  # the geometry's runs all fail with the one reason
        shutil.rmtree(work, ignore_errors=True)
        reason = f"mesh: {type(exc).__name__}: {exc}"[:300]
        return [{"case": case_id, "bc": s["bc_sample"], "status": "failed", "reason": reason} for s in samples]
    for s in samples:
        rec = {"case": case_id, "bc": s["bc_sample"], "split": s["split"], "cells": qc.cells, "seconds": dict(seconds)}
        try:
            sample = read_sample(MANIFEST.parent / s["path"])
            bc = BoundaryConditions.from_dict(sample.provenance["bc_sample"])
            shear = steady_shear_at(work / "mesh", work / "run", bc, sample.cloud.points, SETTINGS.solver(ITERATIONS))
            rec["seconds"]["solve"], rec["iterations"] = shear.solve_seconds, shear.iterations
            rec["converged"], rec["max_point_gap_mm"], tau = shear.converged, shear.max_gap_mm, shear.wss
            tawss = np.asarray(sample.cloud.fields["tawss"], dtype=np.float64)
            rec["tawss_rel_l2"] = rel_l2(np.linalg.norm(tau, axis=1), tawss)
            lofi = np.asarray(sample.cloud.fields["wss_lofi"], dtype=np.float64)
            rec["lofi_tawss_rel_l2"] = rel_l2(np.linalg.norm(lofi, axis=1), tawss)
            dest = out / "fields" / case_id / f"{s['bc_sample']}.npz"
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".partial.npz")
            np.savez_compressed(tmp, wss_steady=tau.astype(np.float32))
            tmp.rename(dest)
            rec |= {"status": "ok", "path": str(dest.relative_to(out))}
        except Exception as exc:
            rec |= {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            shutil.rmtree(work / "run", ignore_errors=True)
        recs.append(rec)
    shutil.rmtree(work, ignore_errors=True)
    return recs


def in_subprocess(case_id: str, samples: list[dict], out: Path, attempts: int = 2) -> list[dict]:
    """``one_geometry`` in a process of its own: a crash inside VTK or gmsh (one segfault was seen) then costs that
    geometry, tried once more, not the whole run."""
    job = out / "jobs" / f"{case_id}.json"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(json.dumps(samples))
    for _ in range(attempts):
        cmd = [sys.executable, __file__, "--one", str(job), "-o", str(out), "--max-iterations", str(ITERATIONS)]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode == 0:
            return json.loads(job.with_suffix(".done.json").read_text())
    reason = f"crashed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-200:]}"
    return [{"case": case_id, "bc": s["bc_sample"], "status": "failed", "reason": reason} for s in samples]


def scores(out: Path, rec: dict, shipped: dict) -> dict:
    """One run's steady |τ| against its CFD TAWSS: whole wall, on and off the sac, after the one scale factor that
    fits best (what a multiplicative correction alone could reach), beside the Poiseuille-Dean channel 3 and the
    shipped surrogate's ε on the run; and the impingement label (surrogate.regions) of the steady field against the
    CFD's (steady OSI is 0, so the low-WSS/high-OSI label cannot come from it)."""
    from cfdgen.pointcloud import read_sample
    from surrogate.metrics import parent_diameter, where_errors
    from surrogate.metrics import rel_l2 as eps
    from surrogate.regions import CATEGORIES, iou, label_regions

    sample = read_sample(MANIFEST.parent / next(s["path"] for s in manifest_samples() if key(s) == key(rec)))
    wss = np.load(out / rec["path"])["wss_steady"].astype(np.float64)
    tau = np.linalg.norm(wss, axis=1)
    c, f = sample.cloud, sample.cloud.fields
    true = np.asarray(f["tawss"], dtype=np.float64)
    where = where_errors(tau, true, c.sac)
    d = parent_diameter(*_globals(sample))
    truth = label_regions(c.points, c.sac, true, f["osi"], f["wss_mean"], d)
    steady = label_regions(c.points, c.sac, tau, np.zeros_like(tau), wss, d)
    return {
        "steady_tawss_rel_l2": eps(tau, true),
        "steady_tawss_rel_l2_sac": where["rel_l2_sac"],
        "steady_tawss_rel_l2_off_sac": where["rel_l2_off_sac"],
        "steady_scaled_tawss_rel_l2": eps(tau * float(tau @ true / (tau @ tau)), true),
        "poiseuille_dean_tawss_rel_l2": eps(np.linalg.norm(f["wss_lofi"].astype(np.float64), axis=1), true),
        "shipped_surrogate_tawss_rel_l2": shipped.get(key(rec)),
        "steady_impingement_iou": iou(steady, truth, CATEGORIES.index("impingement")),
    }


def _globals(sample) -> tuple[np.ndarray, list[str]]:
    from surrogate.data import input_vector

    return input_vector(sample.inputs)


def key(r: dict) -> tuple[str, str]:
    return (r.get("case") or r["case_id"], r.get("bc") or r["bc_sample"])


def manifest_samples() -> list[dict]:
    return json.loads(MANIFEST.read_text())["samples"]


def shipped_errors() -> dict:
    """The shipped surrogate's TAWSS ε per held-out run, from its committed evaluations (test and val)."""
    found = {}
    for name in ("hemodynamics_evaluation.json", "hemodynamics_evaluation_val.json"):
        for s in json.loads((REPO / "surrogate" / "models" / name).read_text())["per_sample"]:
            found[key(s)] = s["surrogate"]["fields"]["tawss"]["rel_l2"]
    return found


def report(out: Path, records: list[dict], extra: dict) -> dict:
    """benchmarks/results/steady_channel[_<N>its].json: per-split means over converged runs (and over all with a field),
    per-stage median seconds, every run's record."""
    from cfdgen.atomic import write_json

    shipped = shipped_errors()
    for r in records:
        if r["status"] == "ok":
            r["scores"] = scores(out, r, shipped)
    accuracy = {}
    for split in ("test", "val", "train"):
        for subset, rs in (("converged", [r for r in records if r["status"] == "ok" and r.get("converged")]),
                           ("all_with_field", [r for r in records if r["status"] == "ok"])):  # fmt: skip
            rs = [r for r in rs if r["split"] == split]
            if not rs:
                continue
            row = {"runs": len(rs), "geometries": len({r["case"] for r in rs})}
            for name in rs[0]["scores"]:
                v = [r["scores"][name] for r in rs if r["scores"][name] is not None]
                row[f"{name}_mean"] = float(np.mean(v)) if v else None
                if name == "steady_tawss_rel_l2":
                    row[f"{name}_median"] = float(np.median(v))
                    row[f"{name}_p90"] = float(np.percentile(v, 90))
                if name.endswith("_iou"):
                    row[f"{name}_runs"] = len(v)  # runs where the CFD or the steady field has the label
            accuracy.setdefault(split, {})[subset] = row
    stages = ("synth", "mesh", "solve")
    with_stage = {s: [r["seconds"][s] for r in records if s in r.get("seconds", {})] for s in stages}
    iterations = [r["iterations"] for r in records if "iterations" in r]
    result = {
        "benchmark": "steady_channel",
        "dataset": str(MANIFEST.relative_to(REPO)),
        **SETTINGS.to_dict(),
        "max_iterations": ITERATIONS,
        "runs_tried": len(records),
        "runs_ok": sum(r["status"] == "ok" for r in records),
        "runs_not_converged": sum(r["status"] == "ok" and not r.get("converged") for r in records),
        "failed": [{k: r.get(k) for k in ("case", "bc", "reason")} for r in records if r["status"] != "ok"],
        "tawss_rel_l2": accuracy,
        # per run; the mesh and synth times repeat on each run of a geometry
        "median_seconds": {s: float(np.median(v)) for s, v in with_stage.items() if v},
        "median_iterations": float(np.median(iterations)) if iterations else None,
        **extra,
        "runs": records,
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / results_name(), result)
    return result


def steady_field(out: Path, rec: dict) -> np.ndarray:
    field = out / rec["path"]
    if not field.is_file():
        raise SystemExit(f"{field}: missing, yet {out / 'records.json'} has the run as solved; remove that "
                         "record and run this benchmark again to solve it anew")  # fmt: skip
    return np.load(field)["wss_steady"]


def channel_datasets(out: Path, records: list[dict]) -> tuple[Path, ...]:
    """Two manifests over the same runs (those with a steady field): OUT/dataset, copies of the committed samples
    whose channel 3 (WSS_LOFI) is the steady wall shear, and OUT/baseline, the committed samples themselves; and
    HELDOUT, the validation and test runs' steady fields alone (surrogate.data.save_channel3)."""
    import h5py

    from cfdgen import steady
    from cfdgen.atomic import write_json
    from cfdgen.pointcloud import JSON_ATTRS, dataset_name
    from surrogate.data import save_channel3

    lofi_name = f"fields/{dataset_name('wss_lofi')}"
    ok = {(r["case"], r["bc"]): r for r in records if r["status"] == "ok"}
    held = {k: steady_field(out, r) for k, r in ok.items() if r["split"] in ("val", "test")}
    source = {"model": steady.LOFI_MODEL, **SETTINGS.to_dict()}
    if ITERATIONS != DATASET_ITERATIONS:  # inference's budget: the held-out fields alone, to score a model with
        return (save_channel3(out / "channel3_heldout.h5", held, source),)
    manifest = json.loads(MANIFEST.read_text())
    kept = [s for s in manifest["samples"] if (s["case_id"], s["bc_sample"]) in ok]
    dataset, baseline = out / "dataset", out / "baseline"
    for s in kept:
        src = MANIFEST.parent / s["path"]
        dest = dataset / s["path"]
        if dest.is_file():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (src.parent / "geometry.h5").is_file() and not (dest.parent / "geometry.h5").is_file():
            shutil.copy2(src.parent / "geometry.h5", dest.parent / "geometry.h5")
        tau = steady_field(out, ok[(s["case_id"], s["bc_sample"])])
        tmp = dest.with_name(dest.name + ".partial")
        shutil.copy2(src, tmp)
        with h5py.File(tmp, "r+") as f:
            attrs = dict(f[lofi_name].attrs)
            del f[lofi_name]
            f.create_dataset(lofi_name, data=tau.astype(np.float32), compression="gzip").attrs.update(attrs)
            f.attrs["lofi_model"] = steady.LOFI_MODEL
            f.attrs["lofi_settings"] = json.dumps(SETTINGS.to_dict())
            f.attrs[JSON_ATTRS] = json.dumps([*json.loads(f.attrs.get(JSON_ATTRS, "[]")), "lofi_settings"])
        tmp.rename(dest)
    note = "runs of data/dataset_draft with a steady field (benchmarks/steady_channel.py)"
    write_json(dataset / "manifest.json", manifest | {"samples": kept, "n_samples": len(kept),
               "description": f"{note}; channel 3 = steady simpleFoam wall shear"})  # fmt: skip
    absolute = [s | {"path": str(MANIFEST.parent / s["path"])} for s in kept]
    write_json(baseline / "manifest.json", manifest | {"samples": absolute, "n_samples": len(kept),
               "paths_relative_to": "absolute", "description": f"{note}; channel 3 as committed"})  # fmt: skip
    save_channel3(HELDOUT, held, source)
    return dataset / "manifest.json", baseline / "manifest.json", HELDOUT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", nargs="+", default=["test", "val", "train"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-o", "--out", default="work/steadych")
    ap.add_argument("--datasets", action="store_true", help="only write the two training manifests from OUT")
    ap.add_argument("--report", action="store_true", help="only score the fields in OUT and write the JSON")
    ap.add_argument("--max-iterations", type=int, default=DATASET_ITERATIONS, help="simpleFoam's iteration budget")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a job file of one geometry's samples (in_subprocess)
    args = ap.parse_args()

    from cfdgen.atomic import write_json

    global ITERATIONS
    ITERATIONS = args.max_iterations
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.one:
        job = Path(args.one)
        samples = json.loads(job.read_text())
        recs = one_geometry(samples[0]["case_id"], samples, out)
        job.with_suffix(".done.json").write_text(json.dumps(recs))
        return
    records_path = out / "records.json"
    records = json.loads(records_path.read_text()) if records_path.is_file() else []
    if args.datasets:
        for path in channel_datasets(out, records):
            print(path)
        return
    if args.report:
        print(json.dumps(report(out, records, {})["tawss_rel_l2"], indent=1))
        return
    done = {(r["case"], r["bc"]) for r in records}
    groups: dict[str, list[dict]] = defaultdict(list)
    for split in args.splits:  # held-out splits first: their numbers are the answer, the train split the data
        for s in json.loads(MANIFEST.read_text())["samples"]:
            if s["split"] == split and (s["case_id"], s["bc_sample"]) not in done:
                groups[s["case_id"]].append(s)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        futures = [pool.submit(in_subprocess, c, ss, out) for c, ss in groups.items()]
        for k, fut in enumerate(as_completed(futures), 1):
            for rec in fut.result():
                records.append(rec)
                secs = " ".join(f"{s} {v:.1f}" for s, v in rec.get("seconds", {}).items())
                err = ""
                if "tawss_rel_l2" in rec:
                    err = f"ε {rec['tawss_rel_l2']:.3f} (lofi {rec['lofi_tawss_rel_l2']:.3f})"
                print(f"[{k}/{len(groups)}] {rec['case']} {rec['bc']} {rec['status']} {secs} {err} "
                      f"{rec.get('reason', '')}", flush=True)  # fmt: skip
            write_json(records_path, records)
    report(out, records, {"workers": args.workers, "wall_seconds_this_call": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
