"""A real `iahemo serve` process (uvicorn + an embedded dask LocalCluster): a bounded load test and the web
terminal end to end in headless Chromium."""

from __future__ import annotations

import io
import json
import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.service_support import SAMPLE, Server, add_user, bearer, wait_job, write_config

N_JOBS = 5
N_STATUS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    config = write_config(folder)
    tokens = {name: add_user(config, name, admin=name == "ops") for name in ("carol", "erin", "ops")}
    srv = Server(config, folder / "server.log").start()
    yield srv, tokens
    srv.stop()


def test_load(server):
    """5 jobs uploaded at once while 50 status requests run concurrently: zero errors, zero lost jobs."""
    srv, tokens = server
    h = bearer(tokens["carol"])
    sample = SAMPLE.read_bytes()
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    with httpx.Client(base_url=srv.url, timeout=120) as client:

        def upload(k: int) -> str:
            r = client.post("/api/jobs", headers=h, files={"file": (f"case{k}.vtp", sample)},
                            data={"case": json.dumps({"patient": {"age": 50 + k}})})
            if r.status_code != 201:
                with lock:
                    errors.append(f"upload {k}: {r.status_code} {r.text[:200]}")
                return ""
            return r.json()["id"]

        t0 = time.monotonic()
        with ThreadPoolExecutor(N_JOBS) as pool:
            ids = [i for i in pool.map(upload, range(N_JOBS)) if i]
        upload_s = time.monotonic() - t0

        def status(k: int) -> None:
            path = "/api/jobs" if k % 2 else f"/api/jobs/{ids[k % len(ids)]}"
            t = time.monotonic()
            r = client.get(path, headers=h)
            with lock:
                latencies.append(time.monotonic() - t)
                if r.status_code != 200:
                    errors.append(f"status {path}: {r.status_code}")

        with ThreadPoolExecutor(N_STATUS) as pool:
            list(pool.map(status, range(N_STATUS)))
        jobs = [wait_job(client, i, tokens["carol"], timeout=420) for i in ids]
        total_s = time.monotonic() - t0
        listed = {j["id"]: j for j in client.get("/api/jobs", headers=h).json()}

    measured = {
        "jobs": N_JOBS,
        "status_requests": N_STATUS,
        "errors": len(errors),
        "upload_s": round(upload_s, 2),
        "status_latency_median_s": round(statistics.median(latencies), 3),
        "status_latency_max_s": round(max(latencies), 3),
        "all_jobs_done_s": round(total_s, 1),
        "job_run_s": [round(_seconds(j), 1) for j in jobs],
    }
    print("service load:", json.dumps(measured))
    assert errors == [], errors
    assert len(ids) == N_JOBS and len(latencies) == N_STATUS
    assert set(ids) <= set(listed)  # no job lost
    assert [j["status"] for j in jobs] == ["done"] * N_JOBS, [j["error"] for j in jobs]
    assert all(j["grade"] in ("low", "intermediate", "high") and j["attempts"] == 1 for j in jobs)
    assert len({j["pseudonym"] for j in jobs}) == N_JOBS  # one job each, none overwritten


def _seconds(job: dict) -> float:
    from datetime import datetime

    def t(s):
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")

    return (t(job["finished"]) - t(job["created"])).total_seconds()


def _chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (tools/ensure_service_deps.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600",
                # WebGL without a GPU: Chromium's software rasteriser
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_web_terminal_in_chromium(server, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    srv, tokens = server
    d = _chrome()
    try:
        d.get(srv.url + "/")
        d.find_element(By.ID, "token").send_keys("iah_not-a-token")
        d.find_element(By.ID, "login").click()
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "login-error").text)
        assert not d.find_element(By.ID, "app-view").is_displayed()

        d.find_element(By.ID, "token").clear()
        d.find_element(By.ID, "token").send_keys(tokens["erin"])
        d.find_element(By.ID, "login").click()
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "app-view").is_displayed())
        assert d.find_element(By.ID, "who").text == "erin"
        d.find_element(By.ID, "file").send_keys(str(SAMPLE))
        d.find_element(By.NAME, "age").send_keys("66")
        Select(d.find_element(By.NAME, "population")).select_by_visible_text("finnish")
        d.find_element(By.NAME, "heart_rate").send_keys("70")
        d.find_element(By.ID, "submit").click()
        WebDriverWait(d, 420, poll_frequency=1).until(
            lambda d: d.find_element(By.ID, "view3d").get_attribute("data-rendered") == "1"
        )
        grade = d.find_element(By.ID, "grade").text
        assert grade in ("low", "intermediate", "high")
        job_id = d.find_element(By.ID, "result-id").text
        assert d.find_element(By.CSS_SELECTOR, f'#jobs tr[data-job="{job_id}"]').get_attribute("data-status") == "done"
        rows = d.find_elements(By.CSS_SELECTOR, "#morphology tr")
        assert len(rows) >= 15 and any(r.text.startswith("size") for r in rows)
        assert len(d.find_elements(By.CSS_SELECTOR, "#hemodynamics tr")) >= 4
        time.sleep(1)
        shots = {}
        for field in ("TAWSS", "RISK_REGION"):
            Select(d.find_element(By.ID, "field")).select_by_value(field)
            time.sleep(0.5)
            png = d.find_element(By.ID, "view3d").screenshot_as_png
            (tmp_path / f"{field}.png").write_bytes(png)
            shots[field] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert not d.find_element(By.ID, "admin").is_displayed()  # erin is no administrator
        d.find_element(By.ID, "logout").click()
        WebDriverWait(d, 10).until(lambda d: d.find_element(By.ID, "login-view").is_displayed())
        d.find_element(By.ID, "token").clear()
        d.find_element(By.ID, "token").send_keys(tokens["ops"])
        d.find_element(By.ID, "login").click()
        WebDriverWait(d, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2)
        storage = {r.text.split()[0]: r.text.split()[1:] for r in d.find_elements(By.CSS_SELECTOR, "#storage tbody tr")}
        assert storage["erin"][0] == "1" and float(storage["erin"][1]) > 1.0  # one job, its input + result in MiB
        assert d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr") == []  # an admin does not see others' jobs
        expected = ("favicon", "/api/me - Failed to load resource: the server responded with a status of 401")
        logs = [e["message"] for e in d.get_log("browser")
                if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)]
    finally:
        d.quit()
    assert logs == []
    for field, img in shots.items():
        non_white = np.any(img < 245, axis=2)
        colours = np.unique(img[non_white].reshape(-1, 3) // 8, axis=0)
        # a blank or failed WebGL canvas is one colour; the wall map covers a good part of it in many colours
        assert non_white.mean() > 0.05, (field, non_white.mean())
        assert len(colours) > (50 if field == "TAWSS" else 5), (field, len(colours))
    assert not np.array_equal(shots["TAWSS"], shots["RISK_REGION"])  # switching the field recolours the wall
    with httpx.Client(base_url=srv.url) as client:
        job = client.get(f"/api/jobs/{job_id}", headers=bearer(tokens["erin"])).json()
        a = client.get(f"/api/jobs/{job_id}/files/assessment.json", headers=bearer(tokens["erin"])).json()
    assert job["grade"] == grade and a["patient"]["age"] == 66 and a["patient"]["population"] == "finnish"
    assert "heart rate" not in " ".join(a["inputs"]["defaults_used"])


def test_page_has_no_remote_scripts():
    page = (Path(__file__).resolve().parents[1] / "surrogate" / "service" / "static" / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
