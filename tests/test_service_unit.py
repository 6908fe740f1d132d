"""Service parts without a cluster: tokens, names, the measurements form, DICOM de-identification, the store,
the configuration and restart recovery's failure paths."""

from __future__ import annotations

import io
import json
import zipfile

import pydicom
import pytest
import sqlalchemy as sa

from cfdgen.errors import ConfigError
from cfdgen.imaging import read_image
from surrogate.service.config import ServiceConfig
from surrogate.service.db import JobDB, UserExists, users
from surrogate.service.ingest import UploadError, check_case, deidentify_zip, kind_of, parse_form
from surrogate.service.lifecycle import Service, is_job_id, new_job_id
from surrogate.service.security import UnsafeName, hash_token, safe_file_name
from surrogate.service.store import Store, put_tree
from tests.service_support import dicom_series, dicom_zip

IDENTIFYING = (b"Doe", b"Jane", b"MRN-0042", b"Elsewhere", b"House", b"ACC998877", b"19450102", b"20240105")


def test_tokens_are_stored_only_as_hashes(tmp_path):
    db = JobDB(f"sqlite:///{tmp_path / 'db.sqlite'}")
    token = db.add_user("alice")
    assert token.startswith("iah_") and len(token) > 40
    with db.engine.connect() as c:
        stored = c.execute(sa.select(users.c.token_hash)).scalar_one()
    assert stored == hash_token(token) and token not in stored and len(stored) == 64
    assert db.user_by_token(token).name == "alice"
    assert db.user_by_token(token + "x") is None
    with pytest.raises(UserExists):
        db.add_user("alice")
    with pytest.raises(UnsafeName):
        db.add_user("../root")
    assert (tmp_path / "db.sqlite").read_bytes().find(token.encode()) == -1


@pytest.mark.parametrize("name", ["../evil.vtp", "a/b.vtp", "a\\b.vtp", "..", ".hidden.vtp", "", "x" * 200,
                                  "surface.vtp\x00.png", "~/.ssh/id.vtp", "/etc/passwd"])
def test_unsafe_file_names_are_refused(name):
    with pytest.raises(UnsafeName):
        safe_file_name(name)


def test_kinds_and_form():
    assert kind_of("Scan.NII.GZ") == ("nifti", ".nii.gz")
    assert kind_of("wall.stl") == ("surface", ".stl")
    assert kind_of("series.zip") == ("dicom", ".zip")
    with pytest.raises(UploadError, match="unsupported file type"):
        kind_of("report.exe")
    assert parse_form('{"patient": {"age": 70}}') == {"patient": {"age": 70}}
    assert parse_form("") == {}
    with pytest.raises(UploadError, match="unknown field"):
        parse_form('{"patient": {}, "name": "Jane Doe"}')
    with pytest.raises(UploadError, match="not valid JSON"):
        parse_form('{"patient": [')


def test_form_is_validated_like_case_yaml(tmp_path):
    (tmp_path / "input.vtp").write_bytes(b"x")
    bad = {"units": "furlong", "measurements": {"doppler": {"mean_velocity": {"value": -3, "unit": "cm/s"}}}}
    with pytest.raises(UploadError) as err:
        check_case(tmp_path, "j0", bad, "surface", "input.vtp")
    text = str(err.value)
    assert "input.units" in text and "mean_velocity.value" in text and str(tmp_path) not in text
    good = {"patient": {"age": 70, "sex": "F"},
            "measurements": {"doppler": {"heart_rate": {"value": 60, "unit": "bpm"}}}}
    case = check_case(tmp_path, "j0", good, "surface", "input.vtp")
    assert case.patient.age == 70 and abs(case.measurements.heart_period.value - 1.0) < 1e-12


def test_dicom_is_deidentified_with_a_stable_pseudonym(tmp_path):
    secret = b"k" * 32
    upload = tmp_path / "up.zip"
    upload.write_bytes(dicom_zip(dicom_series(), extra={"__MACOSX/._x": b"junk", "series/.DS_Store": b"junk"}))
    pid, n = deidentify_zip(upload, tmp_path / "out.zip", secret, 10 << 20)
    assert n == 6 and pid.startswith("P-") and len(pid) == 14
    series_uids = set()
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = zf.namelist()
        assert len(names) == 6
        for name in names:
            raw = zf.read(name)
            for word in IDENTIFYING:
                assert word not in raw, (word, name)
            ds = pydicom.dcmread(io.BytesIO(raw))
            assert ds.PatientID == pid and str(ds.PatientName) == pid and ds.PatientIdentityRemoved == "YES"
            assert 0x00091010 not in ds
            series_uids.add(ds.SeriesInstanceUID)
        zf.extractall(tmp_path / "series")
    assert len(series_uids) == 1  # remapped consistently: still one series
    image = read_image(tmp_path / "series")
    assert image.shape == (16, 16, 6)
    again, _ = deidentify_zip(upload, tmp_path / "again.zip", secret, 10 << 20)
    assert again == pid  # the same patient keeps the same pseudonym
    other = tmp_path / "other.zip"
    other.write_bytes(dicom_zip(dicom_series(patient_id="MRN-7")))
    assert deidentify_zip(other, tmp_path / "o.zip", secret, 10 << 20)[0] != pid


def test_bad_dicom_archives_are_refused(tmp_path):
    secret = b"k" * 32
    cases = {
        "zip slip": dicom_zip(dicom_series(n=4), extra={"../../evil.dcm": b"x"}),
        "not DICOM": dicom_zip(dicom_series(n=4), extra={"notes.txt": b"hello"}),
        "two patients": dicom_zip(dicom_series(n=4) + dicom_series(patient_id="MRN-9", n=4)),
        "too few slices": dicom_zip(dicom_series(n=2)),
        "not a zip": b"PK-not-really",
    }
    messages = {}
    for label, data in cases.items():
        path = tmp_path / f"{label}.zip"
        path.write_bytes(data)
        with pytest.raises(UploadError) as err:
            deidentify_zip(path, tmp_path / "out.zip", secret, 10 << 20)
        messages[label] = str(err.value)
    assert "unsafe path" in messages["zip slip"]
    assert "not a DICOM file" in messages["not DICOM"]
    assert "2 patients" in messages["two patients"]
    assert "not a 3D volume" in messages["too few slices"] or "slice" in messages["too few slices"]
    assert "not a zip" in messages["not a zip"]
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(dicom_zip(dicom_series(n=4)))
    with pytest.raises(UploadError, match="expands to"):
        deidentify_zip(bomb, tmp_path / "out.zip", secret, 1000)
    assert not (tmp_path / "out.zip").exists()


def test_store_on_another_filesystem(tmp_path):
    # memory:// stands in for an object store: everything goes through fsspec, nothing assumes a local disk
    store = Store("memory://iahemo-test")
    folder = tmp_path / "result"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "sub" / "b.bin").write_bytes(b"0" * 1000)
    put_tree(folder, store.url("jobs/j1/result"))
    assert store.list_files("jobs/j1/result") == ["a.json"]
    assert store.usage("jobs/j1") == 1002
    assert not store.exists("jobs/j1/result.partial")
    (tmp_path / "x").write_bytes(b"12345")
    store.put_file(tmp_path / "x", "jobs/j1/input/input.vtp")
    assert store.size("jobs/j1/input/input.vtp") == 5 and store.job_ids() == ["j1"]
    store.remove("jobs/j1")
    assert store.usage("jobs/j1") == 0


def test_config(tmp_path):
    cfg = ServiceConfig.from_dict({"data": str(tmp_path), "assess": {"bc_samples": 2}})
    assert cfg.assess.bc_samples == 2 and cfg.database.startswith("sqlite:///") and cfg.store.endswith("store")
    with pytest.raises(ConfigError, match="unknown service option"):
        ServiceConfig.from_dict({"port": 1})
    with pytest.raises(ConfigError, match="unknown assess option"):
        ServiceConfig.from_dict({"assess": {"pointz": 1}})
    with pytest.raises(ConfigError, match="workers"):
        ServiceConfig(workers=0)
    with pytest.raises(ConfigError, match="not found"):
        ServiceConfig.load(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="job database"):
        JobDB("nosuchdialect://x")


def test_recovery_fails_jobs_it_cannot_resume(tmp_path):
    """Jobs a dead process left active: a finished result is recorded, a missing input or too many restarts
    fail with the reason (the resubmission path runs against a real server in test_service_restart)."""
    cfg = ServiceConfig(data=str(tmp_path), max_attempts=2)
    svc = Service(cfg)
    svc.db.add_user("alice")
    user = svc.db.user_by_token(svc.db.add_user("bob"))
    ids = [new_job_id() for _ in range(3)]
    assert all(is_job_id(i) for i in ids) and not is_job_id("j../../x")
    (tmp_path / "f").write_bytes(b"x")
    for i, job_id in enumerate(ids):
        key = svc.store.job_key(job_id, "input", "input.vtp")
        if i != 1:
            svc.store.put_file(tmp_path / "f", key)
        svc.db.create_job(job_id, user, input_kind="surface", input_key=key, case={}, attempts=2 if i == 2 else 1,
                          progress=0.3, stage="geometry", bytes_in=1, bytes_out=0)
    result = tmp_path / "res"
    result.mkdir()
    (result / "assessment.json").write_text(json.dumps({"grade": "high"}))
    put_tree(result, svc.store.url(svc.result_key(ids[0])))
    svc.db.update_job(ids[2], status="running")
    svc.recover()
    assert svc.recovered == {ids[0]: "recorded", ids[1]: "failed", ids[2]: "failed"}
    done, missing, twice = (svc.db.job(i) for i in ids)
    assert done["status"] == "done" and done["grade"] == "high" and done["bytes_out"] > 0
    assert missing["status"] == "failed" and "input is missing" in missing["error"]
    assert twice["status"] == "failed" and "interrupted by server restarts 2 times" in twice["error"]
    actions = [(a["action"], a["outcome"]) for a in svc.db.audit_tail()]
    assert actions.count(("job.recover", "failed")) == 2
    svc.close()
