"""The CLI and the Snakemake workflow call the same library and produce the same files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cfdgen import registry
from iahemo.cli import main
from tests.conftest import REPO


def test_synth_cli_writes_interface_files(tmp_path, capsys):
    assert main(["synth", "-n", "1", "--seed", "3", "--spacing", "0.3", "-o", str(tmp_path), "-q"]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    names = {p.name for p in folder.iterdir()}
    assert {"case.yaml", "surface.vtp", "image.nii.gz", "labels.nii.gz", "morphology_truth.json"} <= names
    assert "1 cases in" in capsys.readouterr().out


def test_registry_listing(capsys):
    assert main(["registry"]) == 0
    out = capsys.readouterr().out
    assert "tawss" in out and "outlet_0" in out and "neck_diameter" in out


def test_entry_point_installed():
    exe = Path(sys.executable).with_name("iahemo")
    if not exe.exists():
        pytest.skip("package not installed as a console script in this interpreter")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("iahemo ")


def test_snakemake_workflow_runs_the_synth_stage(tmp_path):
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed (extra 'workflow')")
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["synth"]["out"] = str(tmp_path / "results" / "synthetic")
    cfg["synth"]["n"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    work = tmp_path / "work"
    shutil.copytree(REPO / "config", work / "config")
    shutil.copytree(REPO / "workflow", work / "workflow")
    shutil.copy(REPO / "Snakefile", work / "Snakefile")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [
        str(snakemake),
        "-j",
        "1",
        "--configfile",
        str(tmp_path / "config.yaml"),
        "--profile",
        "config/profiles/local",
    ]
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    table = (tmp_path / "results" / "synthetic" / "cohort.csv").read_text().splitlines()
    assert len(table) == 2 and table[1].startswith("syn7_000,sidewall,sphere")
    assert (tmp_path / "results" / "logs" / "synth_cohort.log").exists()
    assert (tmp_path / "results" / "benchmarks" / "synth_cohort.tsv").exists()
    # a second run finds nothing to do
    r2 = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    assert r2.returncode == 0 and "Nothing to be done" in (r2.stdout + r2.stderr)


def test_invalid_workflow_config_is_rejected(tmp_path):
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed (extra 'workflow')")
    (tmp_path / "bad.yaml").write_text("synth: {n: 0, seed: 1, out: x}\n")
    r = subprocess.run(
        [str(snakemake), "-n", "--configfile", str(tmp_path / "bad.yaml")], cwd=REPO, capture_output=True, text=True
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "minimum" in out and "['synth']['n']" in out


def test_morph_cli_on_a_shipped_case(tmp_path, capsys):
    import json

    import pyvista as pv

    case = REPO / "cases" / "syn1_000"
    assert main(["morph", str(case / "surface.vtp"), "--case", str(case / "case.yaml"), "-o", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "morphology.json").read_text())
    truth = json.loads((case / "morphology_truth.json").read_text())
    assert out["kind"] == "sidewall"
    for key in ("size", "height", "neck_diameter"):
        assert out[key] == pytest.approx(truth[key], rel=0.05), key
    assert set(pv.read(tmp_path / "surface.vtp").point_data["sac"]) == {0, 1}
    assert (tmp_path / "morphology.png").stat().st_size > 10_000
    assert "sidewall aneurysm: size" in capsys.readouterr().out


def test_morph_cli_bad_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "empty.stl"
    bad.write_bytes(b"")
    assert main(["morph", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty.stl" in err[0] and not (tmp_path / "out" / "morphology.json").exists()


@pytest.mark.parametrize("argv", [["-n", "0"], ["--spacing", "-1"], ["--spacing", "0"]])
def test_synth_bad_arguments_are_one_line(tmp_path, capsys, argv):
    assert main(["synth", *argv, "-o", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("iahemo: error: ")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# The CFD workflow of config/test.yaml, for real: 2 tiny cases, PCE designs of 8 and 3 runs. One results folder
# serves every test below (in file order): interrupted and resumed run → products → an injected divergence →
# on_failure "fail".

SNAKEMAKE_TIMEOUT = 1800  # s; the whole test config takes ~5-6 min on 2 cores


def _workflow_env():
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture(scope="module")
def cfd_workflow(tmp_path_factory):
    import signal
    import time

    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed (extra 'workflow')")
    if shutil.which("pimpleFoam") is None:
        pytest.skip("OpenFOAM is not installed")
    root = tmp_path_factory.mktemp("cfd_workflow")
    work, results = root / "work", root / "results"
    for name in ("config", "workflow"):
        shutil.copytree(REPO / name, work / name)
    shutil.copy(REPO / "Snakefile", work / "Snakefile")
    (work / "cases").symlink_to(REPO / "cases")
    env = _workflow_env()

    def cmd(*configfiles, config=(), extra=()):
        files = ["config/test.yaml", *map(str, configfiles)]
        return [
            str(snakemake),
            "-j",
            "2",
            "--configfile",
            *files,
            "--config",
            f"results_dir={results}",
            *config,
            *extra,
        ]

    # (a) interrupt (SIGINT to the whole process group, as Ctrl-C does) once simulate jobs have started
    started = time.monotonic()
    with open(root / "interrupted.log", "w") as log:
        # Ctrl-C's default action in the child even when this test runs as a background job, whose shell set
        # SIGINT to "ignore" for everything it starts (seen: a nohup'd `make test` ran the workflow to the end).
        proc = subprocess.Popen(
            cmd(),
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        interrupted = False
        while proc.poll() is None and time.monotonic() - started < SNAKEMAKE_TIMEOUT:
            # as soon as a CFD run is being assembled or under way (a run or mesh killed before its solver
            # started restarts from scratch: also fine). Tiny runs last seconds on an idle machine: poll often.
            if any(results.glob("*/tiny/uq_*.partial")):
                time.sleep(2)  # let the solver write a time step or two
                os.killpg(proc.pid, signal.SIGINT)
                interrupted = True
                break
            time.sleep(0.2)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert interrupted, (root / "interrupted.log").read_text()[-3000:]
    assert proc.returncode != 0
    # ... and rerun the same command: it completes. Snakemake leaves its lock when the signal lands outside its own
    # handler; it then asks for --unlock, which is the documented way back (README), so the test does the same.
    r = subprocess.run(cmd(), cwd=work, env=env, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT)
    if r.returncode != 0 and "--unlock" in r.stdout + r.stderr:
        subprocess.run(cmd(extra=["--unlock"]), cwd=work, env=env, capture_output=True, text=True, check=True)
        r = subprocess.run(cmd(), cwd=work, env=env, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT)
    # When the signal caught a job that was running (here sometimes the 1-epoch training, on an idle machine),
    # Snakemake's metadata marks its output incomplete and a plain rerun refuses; the local profile sets
    # rerun-incomplete, and without a profile the README's way back is --rerun-incomplete (outputs are atomic).
    if r.returncode != 0 and "--rerun-incomplete" in r.stdout + r.stderr:
        extra = ["--rerun-incomplete"]
        r = subprocess.run(
            cmd(extra=extra), cwd=work, env=env, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT
        )
    wall = time.monotonic() - started
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    print(f"test-config workflow: {wall:.0f} s wall including the interruption")
    return {"work": work, "results": results, "env": env, "cmd": cmd, "rerun": r, "wall_s": wall}


def _design_ids(results, case):
    import csv

    with open(results / case / "tiny" / "design" / "design.csv", newline="") as fh:
        return [row["sample_id"] for row in csv.DictReader(fh)]


CASES = ("syn1_000", "syn1_001")


def test_workflow_test_config_products(cfd_workflow):
    import hashlib
    import json

    import h5py

    from cfdgen.pointcloud import dataset_name, read_sample

    results = cfd_workflow["results"]
    ids = {c: _design_ids(results, c) for c in CASES}
    n_runs = {"syn1_000": 8, "syn1_001": 3}  # config/test.yaml uq.n_by_case
    assert all(ids[c] == [f"s{k:04d}" for k in range(n_runs[c])] for c in CASES)

    # resumed cleanly: no run left half-assembled, no temporary file of an atomic write, every run converged
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".partial") or p.name.startswith(".")]
    assert leftovers == []
    for c in CASES:
        for s in ids[c]:
            qc = json.loads((results / c / "tiny" / f"uq_{s}" / "qc.json").read_text())
            assert qc["status"] == "converged", (c, s, qc["reason"])

    # samples: registry dataset names and provenance
    manifest = json.loads((results / "dataset" / "manifest.json").read_text())
    assert manifest["n_samples"] == 11 and manifest["excluded"] == []
    hashes = {}
    for entry in manifest["samples"]:
        path = results / "dataset" / entry["path"]
        sample = read_sample(path)
        prov = sample.provenance
        assert prov["case_id"] == entry["case_id"] and prov["mesh_level"] == "tiny" == entry["mesh_level"]
        assert prov["geometry_hash"] == entry["geometry_hash"]
        assert sample.cloud.points.shape == (2048, 3)
        assert {"tawss", "osi"} <= set(sample.cloud.fields)
        with h5py.File(path, "r") as f:
            assert set(f["fields"]) == {dataset_name(k) for k in sample.cloud.fields}
        hashes.setdefault(entry["case_id"], set()).add(entry["geometry_hash"])
        record = json.loads(
            (results / entry["case_id"] / "tiny" / "samples" / f"uq_{entry['bc_sample']}.json").read_text()
        )
        assert record["status"] == "converged" and Path(record["sample"]).resolve() == path.resolve()
    assert sorted((e["case_id"], e["bc_sample"]) for e in manifest["samples"]) == [
        (c, s) for c in CASES for s in ids[c]
    ]

    # geometry-level split: one geometry per case here, each whole in one split; train and test both filled
    assert all(len(v) == 1 for v in hashes.values())
    split_of = {}
    for entry in manifest["samples"]:
        assert split_of.setdefault(entry["geometry_hash"], entry["split"]) == entry["split"]
    assert sorted(split_of.values()) == ["test", "train"]
    rows = (results / "dataset" / "manifest.csv").read_text().splitlines()
    assert rows[0] == "path,case_id,geometry_hash,bc_sample,mesh_level,split" and len(rows) == 12

    # the surrogate trained on that manifest (1 epoch): a loadable artifact that knows its data, and metrics on
    # the held-out geometry with both baselines and the ablation
    from surrogate.artifact import load_model

    model_dir = results / "models" / "hemodynamics"
    model = load_model(model_dir / "hemodynamics.pt")
    assert len(model.members) == 2 and model.training["n_train_geometries"] == 1
    digest = hashlib.sha256((results / "dataset" / "manifest.json").read_bytes()).hexdigest()
    assert model.training["manifest_sha256"] == digest
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["n_geometries"] == 1 and evaluation["n_samples"] == len(ids[evaluation["geometries"][0]])
    # the surrogate is the network everywhere (the default), reading the wall context the samples carry, and is
    # also scored on the vessels turned to another pose
    methods = {"surrogate", "mean_field", "nearest_neighbour", "lofi", "no_lofi", "turned"}
    assert set(evaluation["summary"]) == methods
    assert not model.lofi_outside_sac and model.sac_level is None and model.normalisation.frame == "pca"
    assert len(model.normalisation.context_mean) == len(registry.FIELDS["wall_context"].components)
    assert 0 < evaluation["headline"]["tawss_rel_l2"] < 10
    assert (model_dir / "model_card.md").read_text().count("synthetic") >= 1
    assert (model_dir / "training_curves.png").stat().st_size > 10_000
    # the high-risk-region model trained on that surrogate's output (1 epoch), scored on the held-out geometry
    from surrogate.region_net import load_region_model

    regions = load_region_model(model_dir / "regions.pt")
    report = json.loads((model_dir / "regions.json").read_text())
    assert regions.metrics["split"] == "test" and len(report["per_sample"]) == evaluation["n_samples"]
    assert len(report["train_loss"]) == 1

    # UQ analysis of each case over all its runs (8: the small real design of the UQ issue)
    for c in CASES:
        uq = json.loads((results / c / "tiny" / "design" / "uq.json").read_text())
        assert sorted(uq["runs"]["used"]) == ids[c] and uq["runs"]["excluded"] == []
        assert "pce" in uq and uq["design"]["method"] == "pce"
        analysis = json.loads((results / c / "tiny" / "design" / "analysis.json").read_text())
        assert analysis["status"] == "analysed"

    # every job left its log and benchmark
    for c in CASES:
        names = ["mesh", "uq_design", "uq_analyse"] + [
            f"{step}_uq_{s}" for step in ("simulate", "sample") for s in ids[c]
        ]
        for name in names:
            assert (results / "logs" / c / "tiny" / f"{name}.log").stat().st_size > 0, (c, name)
            assert (results / "benchmarks" / c / "tiny" / f"{name}.tsv").is_file(), (c, name)
    for name in ("manifest", "synth_cohort", "train_surrogate", "train_regions"):
        assert (results / "logs" / f"{name}.log").is_file() and (results / "benchmarks" / f"{name}.tsv").is_file()
    assert (results / "synthetic" / "cohort.csv").is_file()

    # nothing left to do
    w = cfd_workflow
    r = subprocess.run(w["cmd"](extra=["-n"]), cwd=w["work"], env=w["env"], capture_output=True, text=True)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr


def test_runs_in_the_packed_dataset_are_not_requested_again(cfd_workflow):
    """dataset.packed: a run already in the committed compressed copy drops out of its case's records (the next
    manifest holds only what is new, which `surrogate.pack` adds); a case whose every run is packed drops out."""
    import json

    w = cfd_workflow
    packed = w["work"] / "packed.json"
    runs = [("syn1_001", "s0000")] + [("syn1_000", f"s{k:04d}") for k in range(8)]
    packed.write_text(json.dumps({"samples": [{"case_id": c, "bc_sample": s} for c, s in runs]}))
    extra_config = w["work"] / "packed.yaml"
    extra_config.write_text(f"dataset:\n  packed: {packed}\n")
    r = subprocess.run(
        w["cmd"](extra_config, extra=["-n", "--rerun-triggers", "input"]),
        cwd=w["work"],
        env=w["env"],
        capture_output=True,
        text=True,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "9 runs are in" in out and "1 cases complete there" in out
    # syn1_001 loses one of its three runs from its records; syn1_000 (all 8 packed) is not a case of this run
    assert "results/syn1_001/tiny/samples/records.txt" in out.replace(str(w["results"]), "results")
    assert "syn1_000/tiny/samples/records.txt" not in out


def test_workflow_diverged_run_is_recorded_and_excluded(cfd_workflow):
    import json

    w, results = cfd_workflow, cfd_workflow["results"]
    fault = w["work"] / "fault.yaml"
    fault.write_text("fault_injection:\n  diverge: [syn1_000/s0001]\n")
    r = subprocess.run(
        w["cmd"](fault), cwd=w["work"], env=w["env"], capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    qc = json.loads((results / "syn1_000" / "tiny" / "uq_s0001" / "qc.json").read_text())
    assert qc["status"] in ("diverged", "failed") and qc["reason"]
    # excluded from the dataset with the solver's reason; no sample file
    manifest = json.loads((results / "dataset" / "manifest.json").read_text())
    assert manifest["n_samples"] == 10
    (excluded,) = manifest["excluded"]
    assert (excluded["case_id"], excluded["bc_sample"]) == ("syn1_000", "s0001")
    assert excluded["status"] == qc["status"] and excluded["reason"] == qc["reason"]
    assert ("syn1_000", "s0001") not in {(s["case_id"], s["bc_sample"]) for s in manifest["samples"]}
    record = json.loads((results / "syn1_000" / "tiny" / "samples" / "uq_s0001.json").read_text())
    assert record["sample"] is None and record["reason"] == qc["reason"]
    assert not (results / "syn1_000" / "tiny" / "samples" / "uq_s0001").exists()
    # the PCE analysis goes on without it
    uq = json.loads((results / "syn1_000" / "tiny" / "design" / "uq.json").read_text())
    assert [e["sample_id"] for e in uq["runs"]["excluded"]] == ["s0001"] and len(uq["runs"]["used"]) == 7

    # on_failure "fail": the same divergence stops the workflow, with the reason in the job's log and the output
    target = results / "syn1_000" / "tiny" / "uq_s0001" / "qc.json"
    r = subprocess.run(
        w["cmd"](fault, config=["on_failure=fail"], extra=["-f", str(target)]),
        cwd=w["work"],
        env=w["env"],
        capture_output=True,
        text=True,
        timeout=SNAKEMAKE_TIMEOUT,
    )
    assert r.returncode != 0
    log = (results / "logs" / "syn1_000" / "tiny" / "simulate_uq_s0001.log").read_text()
    assert qc["reason"] in log and "on_failure: fail" in r.stdout + r.stderr
    assert qc["reason"] in r.stdout + r.stderr
