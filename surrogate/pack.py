"""Compressed, committable copy of a workflow dataset: the samples of a manifest with only the fields training and
evaluation read (targets, channel 3, a few evaluation fields), gzip-compressed, plus the manifest rewritten with
paths relative to the copy. Packing into an existing copy adds to it (samples already there are kept), so the
dataset grows across sessions; the geometry-level split is a hash of each geometry, so adding geometries never
moves an existing one to another split.

    python -m surrogate.pack results/draft/dataset/manifest.json -o data/dataset_draft
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cfdgen.atomic import write_json, write_text
from cfdgen.dataset import build_manifest, manifest_csv_text
from cfdgen.pointcloud import PointCloud, read_sample, write_sample
from surrogate.data import EXTRA_FIELDS, LOFI, TARGETS, load_manifest

KEEP = (*TARGETS, *EXTRA_FIELDS, LOFI, "tube_deviation")


def pack(manifest: str | Path, out_dir: str | Path, description: str = "") -> dict:
    out = Path(out_dir)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    src, entries = load_manifest(manifest)
    old = out / "manifest.json"
    records = []
    if old.is_file():  # keep what an earlier pack put there
        prev = json.loads(old.read_text())
        for s in prev["samples"]:
            records.append({**s, "status": "converged", "sample": str((out / s["path"]).resolve())})
    have = {(r["case_id"], str(r["bc_sample"])) for r in records}
    packed_geometry = {r["case_id"]: r["geometry_hash"] for r in records}
    refused = []
    for e in entries:
        if (e["case_id"], str(e["bc_sample"])) in have:
            continue
        # The split is a hash of the geometry: a case whose surface came out different this time (another hash)
        # would put one vessel into two splits, or count it as two geometries.
        if packed_geometry.get(e["case_id"], e["geometry_hash"]) != e["geometry_hash"]:
            refused.append(f"{e['case_id']}/{e['bc_sample']}")
            continue
        s = read_sample(e["path"])
        c = s.cloud
        fields = {k: v for k, v in c.fields.items() if k in KEEP}
        dst = out / "samples" / e["case_id"] / f"{e['bc_sample']}.h5"
        dst.parent.mkdir(parents=True, exist_ok=True)
        prov = {k: v for k, v in s.provenance.items() if k not in ("registry_version", "units", "n_points")}
        write_sample(dst, PointCloud(c.points, c.normals, c.sac, fields), s.inputs, prov, compress=True)
        records.append({**e, "status": "converged", "sample": str(dst.resolve())})
    m = build_manifest(records, list(src["fractions"].values()), src["seed"], base_dir=out)
    m["excluded"] = src.get("excluded", []) + [
        x
        for x in (json.loads(old.read_text()) if old.is_file() else {}).get("excluded", [])
        if x not in src.get("excluded", [])
    ]
    m["n_excluded"] = len(m["excluded"])
    previous = json.loads(old.read_text()).get("description", "") if old.is_file() else ""
    if description or previous:  # a later pack without --description keeps what the copy says it is
        m["description"] = description or previous
    write_text(out / "manifest.csv", manifest_csv_text(m))
    write_json(out / "manifest.json", m)
    if refused:
        m = {**m, "refused": refused}
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m surrogate.pack", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "manifest",
        help="the workflow's dataset manifest.json, or a glob of run records "
        "(results/draft/*/draft/samples/uq_*.json) to pack a workflow that is still running",
    )
    p.add_argument("-o", "--out", required=True, help="packed dataset folder (created or extended)")
    p.add_argument("--description", default="", help="one line stored in the manifest (what the data is)")
    args = p.parse_args(argv)
    manifest = args.manifest
    if not manifest.endswith("manifest.json"):
        import glob
        import tempfile

        from cfdgen.dataset import read_records, write_manifest

        tmp = tempfile.mkdtemp(prefix="pack-")
        write_manifest(read_records(sorted(glob.glob(manifest))), tmp)
        manifest = f"{tmp}/manifest.json"
    m = pack(manifest, args.out, args.description)
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*.h5")) / 2**20
    print(f"{m['n_samples']} samples of {m['n_geometries']} geometries ({size:.1f} MiB) -> {args.out}")
    if m.get("refused"):
        print(
            f"not packed (the case's geometry hash differs from its packed runs' — its surface was regenerated "
            f"differently; one vessel must not sit in two splits): {', '.join(m['refused'])}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
