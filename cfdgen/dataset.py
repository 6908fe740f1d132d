"""Per-run records and the dataset manifest with a geometry-level train/val/test split (DESIGN.md "Point-cloud
sample": a manifest lists all samples and the split).

A **run record** (one small JSON per CFD run, written by the workflow's post and sample rules) says what became of
the run: ``case_id``, ``mesh_level``, ``bc_sample`` (design sample id), ``geometry_hash``, ``run_dir``, ``status``
and ``reason`` from the run's qc.json, and the product path (``sample``/``post``) — null unless the run converged.
A failed or diverged run therefore has a record but no product, and the manifest lists it as excluded.

**Split rule** (:func:`assign_splits`), on geometries, never on samples, so all samples of one geometry hash (every
BC sample and mesh level of it) land in one split:

1. each geometry ``g`` gets ``u(g) = sha256("<seed>:<g>") / 2**256`` in [0, 1) and goes to the split whose
   cumulative-fraction interval holds ``u`` (train [0, f_train), val [f_train, f_train + f_val), test the rest).
   The draw depends only on the seed and the geometry itself, so adding a case never moves an existing geometry
   to another split (a model retrained on a grown dataset is never tested on geometries it once trained on);
2. with few geometries, every split with a positive fraction still gets one geometry when there are enough: the
   splits that must be non-empty are the first ``min(n_geometries, n_splits)`` of the priority order
   train, test, val; an empty one takes a geometry from a split outside that set, else from the split holding the
   most geometries (at least two): the one whose ``u`` is nearest to the empty split's interval (ties: smaller
   ``u``). With 2 geometries that is one train and one test geometry, with 1 geometry only train.

Paths in the manifest are relative to the manifest's folder, so the dataset folder can be moved or committed whole.
``python -m cfdgen.dataset`` is the workflow's entry point (``record``, ``status``, ``manifest``); it does not import
the ``iahemo`` CLI.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cfdgen.atomic import write_json, write_text
from cfdgen.errors import ConfigError, IahemoError

MANIFEST_FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
PRIORITY = ("train", "test", "val")  # which splits get a geometry first when there are too few
CSV_COLUMNS = ("path", "case_id", "geometry_hash", "bc_sample", "mesh_level", "split")
RECORD_KEYS = ("case_id", "mesh_level", "bc_sample", "geometry_hash", "run_dir", "status", "reason")
SPLIT_RULE = (
    "geometry-level: u = sha256('<seed>:<geometry_hash>') / 2**256 picks the split by cumulative fractions "
    "(train, val, test); if a positive-fraction split is empty, the first min(n_geometries, 3) splits of the "
    "priority train, test, val each take the nearest-u geometry from a split outside that set, else from the "
    "largest split (>= 2 geometries)"
)


# ---------------------------------------------------------------------------------------------------------------
# Run records


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise IahemoError(f"{path}: no {what}") from None
    except json.JSONDecodeError as exc:
        raise IahemoError(f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def run_status(run_dir: str | Path) -> tuple[str, str]:
    """(status, reason) from a run's qc.json ("converged", "diverged" or "failed")."""
    qc = _read_json(Path(run_dir) / "qc.json", "QC record (qc.json)")
    return str(qc.get("status")), str(qc.get("reason") or "")


def run_record(run_dir: str | Path, products: Mapping[str, str | Path] | None = None) -> dict[str, Any]:
    """The record of one run: identity from run.json, outcome from qc.json, and each product path (e.g.
    ``{"sample": ".../sample.h5"}``) when the run converged — a converged run whose product is missing is an error,
    not an exclusion (the producing step failed and must be rerun)."""
    run_dir = Path(run_dir)
    status, reason = run_status(run_dir)
    run = _read_json(run_dir / "run.json", "run record (run.json)")
    rec: dict[str, Any] = {
        "case_id": run.get("case_id"),
        "mesh_level": run.get("mesh_level"),
        "bc_sample": run.get("bc_sample"),
        "geometry_hash": run.get("geometry_hash"),
        "run_dir": str(run_dir),
        "status": status,
        "reason": reason,
    }
    for name, path in (products or {}).items():
        if status == "converged":
            if not Path(path).is_file():
                raise IahemoError(f"{run_dir}: run converged but its {name} {path} is missing")
            rec[name] = str(path)
        else:
            rec[name] = None
    return rec


def write_run_record(out: str | Path, run_dir: str | Path, products: Mapping[str, str | Path] | None = None) -> dict:
    rec = run_record(run_dir, products)
    write_json(out, rec)
    return rec


def read_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    return [_read_json(Path(p), "run record") for p in paths]


# ---------------------------------------------------------------------------------------------------------------
# Split


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != len(SPLITS):
        raise ConfigError(f"split fractions need {len(SPLITS)} values (train, val, test), got {len(fractions)}")
    fr = tuple(float(f) for f in fractions)
    if any(not math.isfinite(f) or f < 0 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise ConfigError(f"split fractions must be >= 0 and sum to 1, got {list(fr)}")
    if fr[0] <= 0:
        raise ConfigError("the train fraction must be > 0")
    return fr  # type: ignore[return-value]


def geometry_draw(geometry: str, seed: int) -> float:
    """The geometry's position u in [0, 1): depends only on the seed and the geometry, not on the others."""
    digest = hashlib.sha256(f"{seed}:{geometry}".encode()).digest()
    return int.from_bytes(digest, "big") / 2.0**256


def assign_splits(geometries: Iterable[str], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> dict:
    """{geometry: split} by the module's rule (deterministic for a seed; independent of the input order)."""
    fr = _check_fractions(fractions)
    geoms = sorted(set(geometries))
    u = {g: geometry_draw(g, seed) for g in geoms}
    bounds, lo = {}, 0.0
    for name, f in zip(SPLITS, fr):
        bounds[name] = (lo, lo + f)
        lo += f
    positive = [s for s, f in zip(SPLITS, fr) if f > 0]
    # u beyond the last interval (the fractions' rounding) falls into the last positive split
    split = {g: next((s for s in positive if u[g] < bounds[s][1]), positive[-1]) for g in geoms}
    wanted = [s for s in PRIORITY if fr[SPLITS.index(s)] > 0][: len(geoms)]
    for target in wanted:
        members = {s: sorted(g for g in geoms if split[g] == s) for s in SPLITS}
        if members[target]:
            continue
        # first a split that need not be filled (too few geometries), else the fullest one that keeps one
        donors = [s for s in SPLITS if s not in wanted and members[s]] or [s for s in SPLITS if len(members[s]) >= 2]
        if not donors:
            break
        donor = max(donors, key=lambda s: (len(members[s]), -SPLITS.index(s)))
        lo, hi = bounds[target]

        def distance(g: str, lo: float = lo, hi: float = hi) -> tuple[float, float]:
            return (0.0 if lo <= u[g] < hi else min(abs(u[g] - lo), abs(u[g] - hi)), u[g])

        split[min(members[donor], key=distance)] = target
    return split


# ---------------------------------------------------------------------------------------------------------------
# Manifest


def _relpath(path: str, base: Path | None) -> str:
    if base is None:
        return path
    return os.path.relpath(Path(path).resolve(), base.resolve())


def build_manifest(
    records: Iterable[Mapping[str, Any]],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The manifest of a set of run records: every converged sample with its split, and every excluded run with
    the reason. ``base_dir`` (the manifest's folder) makes the paths relative to it. Records without a geometry
    hash are grouped by case id (one case = one geometry)."""
    fr = _check_fractions(fractions)
    base = Path(base_dir) if base_dir is not None else None
    samples, excluded = [], []
    for rec in records:
        ident = {k: rec.get(k) for k in ("case_id", "bc_sample", "mesh_level")}
        if rec.get("status") == "converged" and rec.get("sample"):
            geometry = rec.get("geometry_hash") or f"case:{rec.get('case_id')}"
            samples.append({"path": _relpath(rec["sample"], base), **ident, "geometry_hash": geometry})
        else:
            reason = rec.get("reason") or ("converged but no sample" if rec.get("status") == "converged" else "")
            excluded.append(
                {**ident, "run_dir": rec.get("run_dir"), "status": rec.get("status"), "reason": reason or "unknown"}
            )
    order = ("case_id", "mesh_level", "bc_sample")
    samples.sort(key=lambda r: tuple(str(r[k]) for k in order))
    excluded.sort(key=lambda r: tuple(str(r[k]) for k in order))
    split = assign_splits((s["geometry_hash"] for s in samples), fr, seed)
    for s in samples:
        s["split"] = split[s["geometry_hash"]]
    splits = {
        name: {
            "geometries": sorted(g for g, v in split.items() if v == name),
            "n_samples": sum(1 for s in samples if s["split"] == name),
        }
        for name in SPLITS
    }
    return {
        "format_version": MANIFEST_FORMAT_VERSION,
        "split_rule": SPLIT_RULE,
        "seed": int(seed),
        "fractions": dict(zip(SPLITS, fr)),
        "paths_relative_to": "manifest folder" if base is not None else "as recorded",
        "n_samples": len(samples),
        "n_geometries": len(split),
        "n_excluded": len(excluded),
        "splits": splits,
        "samples": [{k: s[k] for k in CSV_COLUMNS} for s in samples],
        "excluded": excluded,
    }


def manifest_csv_text(manifest: Mapping[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in manifest["samples"]:
        writer.writerow([s[k] for k in CSV_COLUMNS])
    return buf.getvalue()


def write_manifest(
    records: Iterable[Mapping[str, Any]],
    out_dir: str | Path,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, Any]:
    """``out_dir/manifest.json`` and ``out_dir/manifest.csv`` (each atomically; the CSV first, so a present JSON
    means both are complete)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest(records, fractions, seed, base_dir=out)
    write_text(out / "manifest.csv", manifest_csv_text(manifest))
    write_json(out / "manifest.json", manifest)
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# Entry point for the workflow (python -m cfdgen.dataset ...)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfdgen.dataset", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="exit 0 if the run converged, 1 if not (prints status and reason)")
    p.add_argument("run")
    p = sub.add_parser("record", help="write a run's record JSON")
    p.add_argument("run")
    p.add_argument("--product", action="append", default=[], metavar="NAME=PATH", help="e.g. sample=DIR/sample.h5")
    p.add_argument("-o", "--out", required=True)
    p = sub.add_parser("manifest", help="manifest.json + manifest.csv from run records")
    p.add_argument("records", nargs="*")
    p.add_argument("--records-from", help="file with one record path per line")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            status, reason = run_status(args.run)
            print(f"{status}: {reason}" if reason else status)
            return 0 if status == "converged" else 1
        if args.command == "record":
            products = {}
            for item in args.product:
                name, sep, path = item.partition("=")
                if not sep or not name:
                    raise ConfigError(f"--product needs NAME=PATH, got {item!r}")
                products[name] = path
            rec = write_run_record(args.out, args.run, products)
            print(f"{rec['status']} run {args.run} -> {args.out}")
            return 0
        paths = list(args.records)
        if args.records_from:
            paths += [line.strip() for line in Path(args.records_from).read_text().splitlines() if line.strip()]
        m = write_manifest(read_records(paths), args.out, args.fractions, args.seed)
        print(f"{m['n_samples']} samples of {m['n_geometries']} geometries, {m['n_excluded']} excluded -> {args.out}")
        return 0
    except IahemoError as exc:
        print(f"cfdgen.dataset: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
