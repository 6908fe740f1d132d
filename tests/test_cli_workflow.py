"""The CLI and the Snakemake workflow call the same library and produce the same files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
