"""Add the per-point wall context (registry ``wall_context``, cfdgen.wall_context) to the samples of a packed
dataset made before it existed, without re-running any CFD.

The context depends on the geometry only (centerlines, sac mask, the sample's points), so for every case of the
copy the case's surface is prepared again as inference prepares it (openings, vmtk centerlines, sac; no
remeshing) and the context is computed at the packed points with the packed sac mask. The case's surface must be
the vessel of its packed runs: a resampling of the prepared wall must lie within ``SAME_VESSEL_MAX`` point
spacings of the packed cloud (the packing rule, surrogate.pack), else the case is refused and named. Each sample
is rewritten atomically, so an interrupted run leaves every file either as it was or complete.

    python -m surrogate.pack_context data/dataset_draft --cases results/draft/synthetic cases -w work/context
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyvista as pv
from tqdm import tqdm

from cfdgen.case import load_case
from cfdgen.errors import IahemoError
from cfdgen.pointcloud import PointCloud, read_sample, sample_wall, write_sample
from cfdgen.prepare import GEOMETRY, PrepareConfig, prepare_geometry, write_geometry
from cfdgen.wall_inputs import context_field, read_openings_mm
from surrogate.data import CONTEXT, load_manifest
from surrogate.pack import SAME_VESSEL_MAX, carried_provenance, vessel_mismatch


def prepared_geometry(case_folder: Path, work: Path, packed_points) -> tuple[Path, float]:
    """``work/<id>/geometry/`` of the case (made once) and the mismatch of its wall with the packed points."""
    case = load_case(case_folder)
    folder = work / case.id
    geometry = folder / GEOMETRY
    if not (geometry / "centerlines.vtp").is_file():
        prep = prepare_geometry(case.surface, case, PrepareConfig(remesh=False))
        write_geometry(prep, folder, case.id, str(case.surface))
    wall = pv.read(geometry / "surface.vtp")
    return geometry, vessel_mismatch(sample_wall(wall, len(packed_points), 0).points, packed_points)


def add_context(packed: Path, roots: list[Path], work: Path, progress: bool = True) -> dict:
    """Add ``wall_context`` to every sample of the packed copy that lacks it; returns what was done and refused."""
    _, entries = load_manifest(packed / "manifest.json")
    by_case: dict[str, list[Path]] = {}
    for e in entries:
        by_case.setdefault(e["case_id"], []).append(Path(e["path"]))
    done, skipped, refused = 0, 0, []
    for case_id, paths in tqdm(sorted(by_case.items()), desc="cases", disable=not progress):
        try:  # one case's failure (unreadable sample, case file, vmtk) is named, the others go on
            todo = [p for p in paths if CONTEXT not in read_sample(p).cloud.fields]
            skipped += len(paths) - len(todo)
            if not todo:
                continue
            folder = next((r / case_id for r in roots if (r / case_id).is_dir()), None)
            if folder is None:
                refused.append(f"{case_id}: no case folder under {', '.join(map(str, roots))}")
                continue
            geometry, mismatch = prepared_geometry(folder, work, read_sample(todo[0]).cloud.points)
        except Exception as exc:  # noqa: BLE001
            refused.append(f"{case_id}: {type(exc).__name__}: {exc}")
            continue
        if mismatch > SAME_VESSEL_MAX:
            refused.append(f"{case_id}: not the packed vessel ({mismatch:.1f} point spacings away)")
            continue
        openings = read_openings_mm(geometry)
        for path in todo:
            s = read_sample(path)
            c = s.cloud
            fields = {**c.fields, CONTEXT: context_field(c, geometry, openings)}
            prov = carried_provenance(s)
            prov["wall_context_from"] = f"{folder} prepared again (vessel mismatch {mismatch:.2f} spacings)"
            write_sample(
                path, PointCloud(c.points, c.normals, c.sac, fields), s.inputs, prov, compress=True, compact=True
            )
            done += 1
    return {"added": done, "had_it": skipped, "refused": refused}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m surrogate.pack_context", description=__doc__.split("\n\n")[0])
    p.add_argument("packed", type=Path, help="packed dataset folder (with manifest.json)")
    p.add_argument("--cases", type=Path, nargs="+", required=True, help="folders holding <case-id>/case.yaml")
    p.add_argument("-w", "--work", type=Path, default=Path("work/context"), help="prepared geometries (cached)")
    args = p.parse_args(argv)
    try:
        out = add_context(args.packed, args.cases, args.work)
    except IahemoError as exc:
        print(f"pack_context: error: {exc}", file=sys.stderr)
        return 2
    print(f"wall context added to {out['added']} samples ({out['had_it']} had it)")
    for r in out["refused"]:
        print(f"not added: {r}", file=sys.stderr)
    return 1 if out["refused"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
