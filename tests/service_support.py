"""Helpers of the service tests: a real `iahemo serve` process, job polling, a small DICOM series."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "cases" / "syn1_000" / "surface.vtp"
# assess kept small so a job takes seconds, not tens of seconds, on a loaded 2-core machine
SMALL_ASSESS = {"bc_samples": 2, "points": 2048}
FINAL = ("done", "failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, **options) -> Path:
    cfg = {"data": str(folder / "data"), "workers": 2, "assess": SMALL_ASSESS, **options}
    path = folder / "service.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def add_user(config: Path, name: str, admin: bool = False) -> str:
    cmd = [sys.executable, "-m", "iahemo.cli", "user", "add", name, "--config", str(config)]
    out = subprocess.run(cmd + (["--admin"] if admin else []), capture_output=True, text=True, check=True, cwd=REPO)
    return out.stdout.strip()


class Server:
    """`iahemo serve` in a session of its own, so the server, its dask nannies and workers can be stopped (or
    killed, to simulate a crash) as one process group."""

    def __init__(self, config: Path, log: Path):
        self.config, self.log_path = config, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0, attempts: int = 3) -> Server:
        """Start and wait for /health. The port is one the OS had free a moment ago, in the ephemeral range the
        server's dask cluster also draws its ports from (it starts before the HTTP socket is bound): when dask took
        it first ("address already in use", seen once in session 31), start again on another port."""
        import httpx

        self.log = self.log_path.open("a")
        cmd = [sys.executable, "-m", "iahemo.cli", "serve", "--port", str(self.port), "--config", str(self.config)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                text = self.log_path.read_text()
                if "address already in use" in text.rsplit("Started server process", 1)[-1] and attempts > 1:
                    self.kill()
                    self.port = free_port()
                    self.url = f"http://127.0.0.1:{self.port}"
                    return self.start(timeout, attempts - 1)
                raise RuntimeError(f"server exited with {self.proc.returncode}: {text[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(f"server not up after {timeout} s: {self.log_path.read_text()[-3000:]}")

    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # the group this Popen created (start_new_session), nothing else
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the server and every process it started: a crash, no shutdown handlers."""
        if self.proc is not None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(30)
            self.log.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def wait_job(client, job_id: str, token: str, timeout: float = 240.0, until=FINAL) -> dict:
    t0 = time.monotonic()
    while True:
        r = client.get(f"/api/jobs/{job_id}", headers=bearer(token))
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in until:
            return job
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"job {job_id} still {job['status']} ({job['stage']}) after {timeout} s")
        time.sleep(0.5)


def dicom_series(patient_name="Doe^Jane", patient_id="MRN-0042", n=6, shape=(16, 16), seed=0) -> list:
    """A small CT-like series (pydicom datasets) with identifying tags and a private tag."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient_name, patient_id, "19450102"
        ds.InstitutionName, ds.ReferringPhysicianName = "St Elsewhere Hospital", "House^Gregory"
        ds.AccessionNumber, ds.StudyDate = "ACC998877", "20240105"
        ds.add_new(0x00091010, "LO", "private vendor note about Jane Doe")
        ds.Rows, ds.Columns = shape
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 0.5
        ds.ImagePositionPatient = [0.0, 0.0, 0.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = rng.integers(0, 400, size=shape, dtype=np.int16).tobytes()
        out.append(ds)
    return out


def dicom_zip(datasets, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, ds in enumerate(datasets):
            member = io.BytesIO()
            ds.save_as(member, enforce_file_format=True)
            zf.writestr(f"series/IM{k:04d}", member.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def live_processes_in_group(pgid: int) -> list[int]:
    """Processes of a group that still run (zombies of killed ones, waiting for init to reap them, do not)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive
