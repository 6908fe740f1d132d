"""Segmentation and reconstruction accuracy and speed (issue 9).

    .venv/bin/python benchmarks/segmentation.py [--model PATH] [--sets 12:6 14:21 16:8] [--cohorts DIR] [--pause-cfd]

- Unseen synthetic volumes: for each ``SEED:N`` of ``--sets``, N synthetic cases of that seed (the shipped model
  trained on seeds 11 and 13) -> ``iahemo segment`` -> Dice/HD95 of vessel, aneurysm and lumen -> ``iahemo
  reconstruct`` of the predicted labels -> mean distance to the exact surface (mm and voxels). The headline means
  are over all sets' volumes; each set's means are kept too. ``--cohorts DIR`` reuses (or keeps) the generated
  cases in ``DIR/seed<S>``.
- Real MRA (``../shared/realdata/vmtk_aorta_mra``, skipped when absent): the network, and the threshold fallback
  seeded by the network and by one point, against the level-set segmentation, inside the level set's region
  (its bounding box + 3 voxels: the level set was computed only there).
- Real CTA (TopCoW crop): segmentation + reconstruction, a figure.
- Speed: a 256³ CTA (an unseen synthetic case mirrored out to 256³ at 0.4 mm) through ``segment`` in a child
  process on 2 threads: wall time and peak memory. ``--pause-cfd`` stops running OpenFOAM solvers (SIGSTOP) for
  the timing and resumes them after, so the number is the idle machine's.

Writes benchmarks/results/segmentation.json (``dice_vessel_synthetic``, ``dice_aorta_mra``,
``segment_256_seconds``, ...) and figures beside it.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
REALDATA = REPO.parent / "shared" / "realdata"


def _mean(rows: list[dict], cls: str, key: str) -> float | None:
    v = [r[cls][key] for r in rows if cls in r and np.isfinite(r[cls][key])]
    return float(np.mean(v)) if v else None


def synthetic(model: str, sets: list[tuple[int, int]], cohorts: Path, work: Path) -> dict:
    import pyvista as pv

    from cfdgen.imaging import read_image
    from cfdgen.reconstruct import reconstruct_command, surface_distance
    from cfdgen.synth.cohort import generate_cohort
    from surrogate.seg_metrics import label_metrics
    from surrogate.segment import segment_command

    rows = [(seed, r) for seed, n in sets for r in generate_cohort(n, seed, cohorts / f"seed{seed}", progress=True)]
    cases = []
    for seed, r in rows:
        case = cohorts / f"seed{seed}" / r["id"]
        seg = segment_command(case / "image.nii.gz", work / r["id"], model)
        pred = read_image(work / r["id"] / "labels.nii.gz").array.astype(np.uint8)
        truth_img = read_image(case / "labels.nii.gz")
        m = label_metrics(pred, truth_img.array.astype(np.uint8), truth_img.spacing)
        if not (truth_img.array == 2).any():
            m.pop("aneurysm")
        try:
            reconstruct_command(work / r["id"] / "labels.nii.gz", work / r["id"])
            d = surface_distance(pv.read(work / r["id"] / "surface.vtp"), pv.read(case / "surface.vtp"))
            d["mean_voxels"] = d["mean_mm"] / float(truth_img.spacing.mean())
        except Exception as exc:  # recorded, not hidden: a reconstruction failure is a result too
            d = {"error": f"{type(exc).__name__}: {exc}"}
        cases.append({"case": r["id"], "seed": seed, "kind": r["kind"], "size_mm": r.get("size"), **m,
                      "surface_distance": d,
                      "segment_seconds": seg["seconds"]["segment"]})
        print(cases[-1], flush=True)
    ok = [c["surface_distance"] for c in cases if "mean_mm" in c["surface_distance"]]
    by_seed = {
        str(seed): {
            "cases": sum(c["seed"] == seed for c in cases),
            **{f"dice_{k}": _mean([c for c in cases if c["seed"] == seed], k, "dice")
               for k in ("vessel", "aneurysm", "lumen")},
        }
        for seed, _ in sets
    }
    return {
        "sets": [f"{seed}:{n}" for seed, n in sets],
        "by_seed": by_seed,
        "aneurysms_missed": sum(1 for c in cases if "aneurysm" in c and c["aneurysm"]["dice"] < 0.1),
        "cases": cases,
        "dice_vessel": _mean(cases, "vessel", "dice"),
        "dice_aneurysm": _mean(cases, "aneurysm", "dice"),
        "dice_lumen": _mean(cases, "lumen", "dice"),
        "hd95_vessel_mm": _mean(cases, "vessel", "hd95_mm"),
        "hd95_aneurysm_mm": _mean(cases, "aneurysm", "hd95_mm"),
        "surface_distance_mean_mm": float(np.mean([d["mean_mm"] for d in ok])) if ok else None,
        "surface_distance_mean_voxels": float(np.mean([d["mean_voxels"] for d in ok])) if ok else None,
        "reconstructions_failed": len(cases) - len(ok),
    }


def aorta(model: str, work: Path) -> dict | None:
    folder = REALDATA / "vmtk_aorta_mra"
    if not folder.is_dir():
        return None
    import pyvista as pv

    from cfdgen.imaging import read_image
    from cfdgen.plots import segmentation_figure
    from surrogate.seg_metrics import dice
    from surrogate.segment import segment_command

    ref = read_image(folder / "aorta-final-levelset.mha").array < 0
    idx = np.argwhere(ref)
    box = tuple(slice(max(lo - 3, 0), hi + 4) for lo, hi in zip(idx.min(0), idx.max(0)))
    centerline = pv.read(folder / "aorta-centerline.vtp")
    click = np.asarray(centerline.points)[centerline.n_points // 2]  # one point a user would click in the aorta
    out = {"reference": "aorta-final-levelset.mha < 0, compared inside its bounding box + 3 voxels"}
    # the network at its own 0.4 mm; at 2 mm, where a ~20 mm aorta looks like the 4 mm arteries it was trained on;
    # the half-maximum fallback seeded by that network and by one click
    runs = {
        "unet": {},
        "unet_at_2mm": {"working_spacing": 2.0},
        "threshold_seeded_by_unet_2mm": {"method": "threshold", "working_spacing": 2.0},
        "threshold_one_click": {"method": "threshold", "seeds_mm": [click.tolist()]},
    }
    for name, kw in runs.items():
        try:
            s = segment_command(folder / "aorta.mha", work / name, model, **kw)
            pred = read_image(work / name / "labels.nii.gz").array > 0
            out[name] = {"dice": dice(pred[box], ref[box]), "seconds": s["seconds"]["segment"],
                         "threshold": s.get("threshold"), "working_spacing_mm": s["working_spacing_mm"]}
        except Exception as exc:
            out[name] = {"dice": 0.0, "error": f"{type(exc).__name__}: {exc}"}
        print(name, out[name], flush=True)
    best = max(runs, key=lambda k: out[k]["dice"])
    image = read_image(folder / "aorta.mha")
    labels = read_image(work / best / "labels.nii.gz").array.astype(np.uint8)
    segmentation_figure(image, labels, RESULTS / "segmentation_aorta_mra.png",
                        title=f"vmtk aorta MRA: {best} (Dice {out[best]['dice']:.3f} vs level set)")
    return out


def topcow(model: str, work: Path) -> dict | None:
    path = REALDATA / "topcow_cta" / "cta_crop.mha"
    if not path.is_file():
        return None
    import pyvista as pv

    from cfdgen.imaging import read_image
    from cfdgen.plots import segmentation_figure
    from cfdgen.reconstruct import reconstruct_command
    from surrogate.segment import segment_command

    s = segment_command(path, work / "topcow", model)
    out = {"segment": {k: s[k] for k in ("modality", "voxels", "volume_mm3")}, "seconds": s["seconds"]["segment"]}
    # No labels here, so two counts of what is certainly not artery: lumen voxels within 3 voxels of air (the walls
    # of the sphenoid sinus and skull base; no cerebral artery runs there) and voxels labelled aneurysm (the crop
    # carries no aneurysm annotation; the network's false sacs sit on that bone).
    image = read_image(path)
    lumen = read_image(work / "topcow" / "labels.nii.gz").array
    near_air = ndimage.binary_dilation(image.array < -500, iterations=3)
    out["lumen_voxels_near_air"] = int(((lumen > 0) & near_air).sum())
    out["aneurysm_voxels"] = int((lumen == 2).sum())
    surface = None
    try:
        r = reconstruct_command(work / "topcow" / "labels.nii.gz", work / "topcow")
        surface = pv.read(work / "topcow" / "surface.vtp")
        out["reconstruct"] = {k: r[k] for k in ("triangles", "openings", "sac_points", "notes")}
    except Exception as exc:
        out["reconstruct"] = {"error": f"{type(exc).__name__}: {exc}"}
    labels = lumen.astype(np.uint8)
    segmentation_figure(image, labels, RESULTS / "segmentation_topcow_cta.png", surface,
                        title="TopCoW CTA crop (real, no labels): U-Net segmentation and reconstructed surface")
    print(out, flush=True)
    return out


def _cfd_pids() -> list[int]:
    r = subprocess.run(["pgrep", "-f", "pimpleFoam|simpleFoam"], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def speed(model: str, case: Path, work: Path, pause_cfd: bool) -> dict:
    from cfdgen.imaging import read_image, write_nifti

    img = read_image(case / "image.nii.gz").array
    pad = [((256 - n) // 2, 256 - n - (256 - n) // 2) for n in img.shape]
    big = np.pad(img, pad, mode="symmetric")[:256, :256, :256].astype(np.int16)
    write_nifti(big, np.diag([0.4, 0.4, 0.4, 1.0]), work / "cta256.nii.gz")
    code = (
        "import json, resource, sys; from surrogate.segment import segment_command; "
        "s = segment_command(sys.argv[1], sys.argv[2], sys.argv[3], threads=2); "
        "print(json.dumps({**s['seconds'], 'peak_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"
    )
    paused = _cfd_pids() if pause_cfd else []
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code, str(work / "cta256.nii.gz"), str(work / "s256"), model],
                           capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    seconds = json.loads(r.stdout.strip().splitlines()[-1])
    peak_gib = seconds["peak_kib"] / 2**20
    return {
        "segment_256_seconds": seconds["segment"],
        "segment_256_total_seconds": seconds["total"],
        "segment_256_process_seconds": wall,
        "segment_256_peak_memory_gib": peak_gib,
        "threads": 2,
        "cfd_solvers_paused": len(paused),
    }


def seed_count(text: str) -> tuple[int, int]:
    """``SEED:N`` -> (SEED, N), or argparse's one-line error."""
    try:
        seed, n = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEED:N, e.g. 12:6 (got {text!r})") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"N must be at least 1 (got {text!r})")
    return seed, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--sets", nargs="+", type=seed_count, default=[(12, 6), (14, 21), (16, 8)],
                    help="SEED:N unseen synthetic cases")
    ap.add_argument("--cohorts", type=Path, default=None, help="keep the generated cases in DIR/seed<S>")
    ap.add_argument("--pause-cfd", action="store_true")
    args = ap.parse_args()
    sets = args.sets

    from cfdgen.atomic import write_json
    from surrogate.seg_net import DEFAULT_SEG_MODEL, load_seg_model

    model = str(args.model or DEFAULT_SEG_MODEL)
    card = load_seg_model(model)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cohorts = args.cohorts or work / "cohorts"
        syn = synthetic(model, sets, cohorts, work / "segmented")
        result = {
            "benchmark": "segmentation",
            "model": Path(model).name,
            "model_test_metrics": card.metrics.get("test"),
            "dice_vessel_synthetic": syn["dice_vessel"],
            "synthetic_cases": len(syn["cases"]),
            "dice_lumen_synthetic": syn["dice_lumen"],
            "dice_aneurysm_synthetic": syn["dice_aneurysm"],
            "surface_distance_mean_voxels": syn["surface_distance_mean_voxels"],
            "synthetic": syn,
            "aorta_mra": aorta(model, work),
            "topcow_cta": topcow(model, work),
            **speed(model, cohorts / f"seed{sets[0][0]}" / syn["cases"][0]["case"], work, args.pause_cfd),
            "machine": machine(),
        }
        a = result["aorta_mra"]
        result["dice_aorta_mra"] = None if a is None else a["unet"]["dice"]
        result["dice_aorta_mra_unet_2mm"] = None if a is None else a["unet_at_2mm"]["dice"]
        result["dice_aorta_mra_fallback"] = (
            None if a is None else max(a["threshold_seeded_by_unet_2mm"]["dice"], a["threshold_one_click"]["dice"])
        )
    write_json(RESULTS / "segmentation.json", result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
