"""How close channel 3 alone comes to the CFD's TAWSS, with and without the curved-pipe (Dean) factor.

    .venv/bin/python benchmarks/lofi_accuracy.py [--manifest data/dataset_draft/manifest.json]

For every sample of the manifest whose run folder is still on this machine (the sample's provenance names it;
the workflow keeps them under results/), the low-fidelity WSS is computed again from the run's geometry twice:
as shipped (Poiseuille × g(De) on the tube wall) and with the centerline curvature set to 0 (plain Poiseuille,
the estimate before the factor). Each is scored against the CFD's TAWSS as ε = ‖ |WSS_lofi| − TAWSS ‖ / ‖TAWSS‖
over all points and over the non-sac points (where a tube estimate can hold). The recomputed curved estimate
must reproduce the sample's stored channel 3 (checked; the maximum difference is recorded). Writes
benchmarks/results/lofi_accuracy.json.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default=str(REPO / "data" / "dataset_draft" / "manifest.json"))
    args = ap.parse_args()

    from cfdgen.atomic import write_json
    from cfdgen.bc import BoundaryConditions
    from cfdgen.errors import IahemoError
    from cfdgen.lofi import lofi_wss
    from cfdgen.pointcloud import read_sample
    from cfdgen.wall_inputs import MeanFlow, centerline_flow, read_openings_mm
    from surrogate.data import LOFI, load_manifest
    from surrogate.metrics import rel_l2

    try:
        _, entries = load_manifest(args.manifest)
    except IahemoError as exc:
        raise SystemExit(str(exc)) from None
    manifest = Path(args.manifest).resolve()
    rows, skipped = [], []
    for e in entries:
        s = read_sample(e["path"])
        run = Path(s.provenance.get("run_dir", ""))
        if not (run / "geometry").is_dir() or not s.provenance.get("bc_sample"):
            skipped.append(e["case_id"])
            continue
        flow = MeanFlow.of(BoundaryConditions.from_dict(s.provenance["bc_sample"]))
        branches, _ = centerline_flow(run / "geometry", read_openings_mm(run / "geometry"), flow)
        straight = dataclasses.replace(branches, curvature=np.zeros_like(branches.curvature))
        c = s.cloud
        curved = lofi_wss(c.points, c.normals, branches, flow.viscosity, flow.density).wss
        plain = lofi_wss(c.points, c.normals, straight, flow.viscosity, flow.density).wss
        tawss, tube = c.fields["tawss"], np.asarray(c.sac) == 0
        row = {"case_id": e["case_id"], "bc_sample": e["bc_sample"], "split": e.get("split")}
        for name, w in (("poiseuille", plain), ("poiseuille_dean", curved)):
            mag = np.linalg.norm(w, axis=1)
            row[name] = {"tawss_rel_l2": rel_l2(mag, tawss), "tawss_rel_l2_non_sac": rel_l2(mag[tube], tawss[tube])}
        row["stored_max_abs_diff_pa"] = float(np.max(np.abs(curved - c.fields[LOFI])))
        rows.append(row)
        print(
            f"{e['case_id']} {e['bc_sample']}: non-sac ε {row['poiseuille']['tawss_rel_l2_non_sac']:.1%} -> "
            f"{row['poiseuille_dean']['tawss_rel_l2_non_sac']:.1%}",
            flush=True,
        )
    if not rows:
        raise SystemExit("no run folder of the manifest's samples on this machine: nothing to recompute")
    mean = {
        m: {k: float(np.mean([r[m][k] for r in rows])) for k in ("tawss_rel_l2", "tawss_rel_l2_non_sac")}
        for m in ("poiseuille", "poiseuille_dean")
    }
    out = {
        "benchmark": "lofi_accuracy",
        "manifest": str(manifest.relative_to(REPO)) if manifest.is_relative_to(REPO) else str(manifest),
        "n_runs": len(rows),
        "skipped_no_run_folder": skipped,
        "mean_over_runs": mean,
        "stored_max_abs_diff_pa": max(r["stored_max_abs_diff_pa"] for r in rows),
        "per_run": rows,
        "machine": machine(),
    }
    write_json(REPO / "benchmarks" / "results" / "lofi_accuracy.json", out)
    print(
        f"{len(rows)} runs: TAWSS ε of channel 3 alone, all points {mean['poiseuille']['tawss_rel_l2']:.1%} -> "
        f"{mean['poiseuille_dean']['tawss_rel_l2']:.1%}, non-sac {mean['poiseuille']['tawss_rel_l2_non_sac']:.1%} "
        f"-> {mean['poiseuille_dean']['tawss_rel_l2_non_sac']:.1%} (Poiseuille -> with the Dean factor)"
    )


if __name__ == "__main__":
    main()
