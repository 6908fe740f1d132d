"""Dataset manifest: geometry-level split (no leakage, deterministic, splits filled when possible), excluded runs."""

import csv
import json

import pytest

from cfdgen.atomic import write_json
from cfdgen.dataset import SPLITS, assign_splits, build_manifest, main, run_record, write_manifest
from cfdgen.errors import ConfigError, IahemoError


def _records(n_geometries: int, n_bc: int = 3, failed: dict | None = None) -> list[dict]:
    failed = failed or {}
    out = []
    for g in range(n_geometries):
        for k in range(n_bc):
            sid = f"s{k:04d}"
            status, reason = failed.get((g, sid), ("converged", ""))
            out.append(
                {
                    "case_id": f"c{g:03d}",
                    "mesh_level": "tiny",
                    "bc_sample": sid,
                    "geometry_hash": f"hash{g:03d}",
                    "run_dir": f"results/c{g:03d}/tiny/uq_{sid}",
                    "status": status,
                    "reason": reason,
                    "sample": None if status != "converged" else f"results/c{g:03d}/tiny/samples/uq_{sid}/sample.h5",
                }
            )
    return out


def test_split_by_geometry_never_leaks():
    recs = _records(40, 4)
    # the same geometry at another mesh level must follow its geometry
    recs += [{**r, "mesh_level": "coarse"} for r in _records(40, 1)]
    m = build_manifest(recs, (0.7, 0.15, 0.15), seed=3)
    by_geometry = {}
    for s in m["samples"]:
        by_geometry.setdefault(s["geometry_hash"], set()).add(s["split"])
    assert all(len(v) == 1 for v in by_geometry.values())
    assert m["n_samples"] == 40 * 5 and m["n_geometries"] == 40
    listed = [g for name in SPLITS for g in m["splits"][name]["geometries"]]
    assert sorted(listed) == sorted(by_geometry) and len(set(listed)) == len(listed)
    counts = {name: len(m["splits"][name]["geometries"]) for name in SPLITS}
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0


def test_split_is_deterministic_and_order_independent():
    recs = _records(25, 2)
    a = build_manifest(recs, seed=5)
    b = build_manifest(list(reversed(recs)), seed=5)
    assert a == b
    c = build_manifest(recs, seed=6)
    assert [s["split"] for s in a["samples"]] != [s["split"] for s in c["samples"]]


def test_adding_geometries_keeps_existing_assignments():
    before = assign_splits([f"g{i}" for i in range(30)], seed=1)
    after = assign_splits([f"g{i}" for i in range(31)], seed=1)
    assert all(after[g] == s for g, s in before.items())


@pytest.mark.parametrize(
    "n, expected",
    [(1, {"train"}), (2, {"train", "test"}), (3, {"train", "val", "test"}), (4, {"train", "val", "test"})],
)
def test_few_geometries_still_fill_the_splits(n, expected):
    for seed in range(20):
        split = assign_splits([f"geom{i}" for i in range(n)], seed=seed)
        assert set(split.values()) == expected, (n, seed, split)


def test_zero_fraction_split_stays_empty():
    split = assign_splits([f"g{i}" for i in range(10)], (0.8, 0.0, 0.2), seed=0)
    assert "val" not in split.values() and {"train", "test"} <= set(split.values())


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ConfigError):
        assign_splits(["a", "b"], fractions)


def test_excluded_runs_are_listed_with_reasons():
    failed = {(1, "s0002"): ("diverged", "Courant number 1e3 exceeds 20 at t = 1e-05 s"), (2, "s0000"): ("failed", "")}
    m = build_manifest(_records(4, 3, failed), seed=0)
    assert m["n_samples"] == 10 and m["n_excluded"] == 2
    ex = {(e["case_id"], e["bc_sample"]): e for e in m["excluded"]}
    assert ex[("c001", "s0002")]["status"] == "diverged" and "Courant" in ex[("c001", "s0002")]["reason"]
    assert ex[("c002", "s0000")]["reason"] == "unknown"
    assert ("c001", "s0002") not in {(s["case_id"], s["bc_sample"]) for s in m["samples"]}


def _run(tmp_path, name, status, reason="", geometry="abc"):
    run = tmp_path / name
    write_json(run / "qc.json", {"status": status, "reason": reason})
    write_json(run / "run.json", {"case_id": "c1", "mesh_level": "tiny", "bc_sample": name, "geometry_hash": geometry})
    return run


def test_records_files_and_entry_point(tmp_path, capsys):
    ok = _run(tmp_path, "s0000", "converged")
    bad = _run(tmp_path, "s0001", "diverged", "continuity error 0.08 exceeds 0.01")
    sample = tmp_path / "samples" / "s0000.h5"
    sample.parent.mkdir()
    sample.write_bytes(b"x")
    assert main(["status", str(ok)]) == 0 and main(["status", str(bad)]) == 1
    assert "diverged: continuity error" in capsys.readouterr().out
    assert main(["record", str(ok), "--product", f"sample={sample}", "-o", str(tmp_path / "r0.json")]) == 0
    missing = f"sample={tmp_path / 'none.h5'}"
    assert main(["record", str(bad), "--product", missing, "-o", str(tmp_path / "r1.json")]) == 0
    assert json.loads((tmp_path / "r1.json").read_text())["sample"] is None
    # a converged run without its product is an error, not an exclusion
    with pytest.raises(IahemoError, match="missing"):
        run_record(ok, {"sample": tmp_path / "none.h5"})
    out = tmp_path / "dataset"
    assert main(["manifest", str(tmp_path / "r0.json"), str(tmp_path / "r1.json"), "-o", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["samples"][0]["path"] == "../samples/s0000.h5"  # relative to the manifest folder
    assert (out / m["samples"][0]["path"]).resolve() == sample.resolve()
    assert m["excluded"][0]["reason"].startswith("continuity error")
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 1 and rows[0]["split"] == "train" and rows[0]["bc_sample"] == "s0000"


def test_write_manifest_matches_build(tmp_path):
    recs = _records(5, 2)
    m = write_manifest(recs, tmp_path / "ds", seed=2)
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text()) == m
    assert not [p for p in (tmp_path / "ds").iterdir() if p.name.startswith(".")]
