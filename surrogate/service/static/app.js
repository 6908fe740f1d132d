// The web terminal: token login, upload with the measurements form, live job list, result view with the 3D
// wall map. Talks to the same /api routes as any other client; the token stays in this tab's sessionStorage.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "iahemo-token";
const POLL_MS = 1500;
// the report's risk-region colours (surrogate/assess.py), so the page and the PDF agree
const REGION_COLOURS = ["#d9d9d9", "#3b6fd9", "#e0402f"];
const REGION_NAMES = { none: "none", low_wss_high_osi: "low WSS + high OSI", impingement: "impingement" };
const RAMP = ["#30123b", "#4686fb", "#1be5b5", "#a2fc3c", "#fb8022", "#7a0403"].map((c) => new THREE.Color(c));

let token = sessionStorage.getItem(TOKEN_KEY);
let pollTimer = null;
let shownJob = null;
let viewer = null;

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token}` };
  const resp = await fetch(path, { ...options, headers });
  if (resp.status === 401) { logout("the token was not accepted"); throw new Error("unauthorised"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { const body = await resp.json(); detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return resp;
}

async function login(candidate) {
  token = candidate;
  const me = await (await api("/api/me")).json();
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#who").textContent = `${me.name}${me.admin ? " (admin)" : ""}`;
  $("#logout").hidden = false;
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#admin").hidden = !me.admin;
  const tick = () => { refreshJobs(); if (me.admin) refreshAdmin(); };
  tick();
  pollTimer = setInterval(tick, POLL_MS);
}

function logout(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  clearInterval(pollTimer);
  $("#logout").hidden = true;
  $("#who").textContent = "";
  $("#result").hidden = true;
  shownJob = null;
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#login-error").textContent = reason || "";
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try { await login($("#token").value.trim()); } catch (e) { $("#login-error").textContent = e.message; }
});

$("#logout").addEventListener("click", () => logout(""));

// ------------------------------------------------------------------------------------------------- admin
const mib = (b) => (b / 1048576).toFixed(1);

function rows(sel, data) {
  $(sel).querySelector("tbody").replaceChildren(...data.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

async function refreshAdmin() {
  let s;
  try { s = await (await api("/api/admin/status")).json(); } catch (e) { return; }
  rows("#workers", (s.compute ? s.compute.workers : []).map((w) => [w.name, w.threads,
    `${mib(w.memory_used)} / ${mib(w.memory_limit)} MiB`, w.tasks_processing]));
  $("#job-counts").textContent = Object.entries(s.jobs).map(([k, v]) => `${k} ${v}`).join(" · ");
  rows("#storage", Object.entries(s.storage.users).map(([u, v]) => [u, v.jobs, mib(v.bytes)]));
  $("#storage-total").textContent = `store (${s.storage.store}): ${mib(s.storage.total_bytes)} MiB in all`;
}

// ------------------------------------------------------------------------------------------------- upload
function measured(value, sd, unit) {
  if (value === "") return null;
  const m = { value: Number(value), unit };
  if (sd !== "") m.sd = Number(sd);
  return m;
}

function caseFromForm(form) {
  const f = new FormData(form);
  const get = (k) => (f.get(k) || "").toString().trim();
  const patient = {};
  if (get("age")) patient.age = Number(get("age"));
  for (const k of ["sex", "population", "site"]) if (get(k)) patient[k] = get(k);
  for (const k of ["hypertension", "earlier_sah", "irregular_shape"]) if (get(k)) patient[k] = get(k) === "true";
  const doppler = {};
  const v = measured(get("velocity"), get("velocity_sd"), "cm/s");
  if (v) doppler.mean_velocity = v;
  const hr = measured(get("heart_rate"), get("heart_rate_sd"), "bpm");
  if (hr) doppler.heart_rate = hr;
  const measurements = {};
  if (Object.keys(doppler).length) measurements.doppler = doppler;
  const p = measured(get("pressure"), get("pressure_sd"), "mmHg");
  if (p) measurements.pressure_wire = { mean: p };
  const doc = {};
  if (Object.keys(patient).length) doc.patient = patient;
  if (Object.keys(measurements).length) doc.measurements = measurements;
  if (get("units")) doc.units = get("units");
  return doc;
}

$("#upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const file = $("#file").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("file", file, file.name);
  body.append("case", JSON.stringify(caseFromForm(form)));
  $("#upload-status").textContent = "uploading…";
  $("#upload-status").className = "";
  try {
    const job = await (await api("/api/jobs", { method: "POST", body })).json();
    $("#upload-status").textContent = `job ${job.id} queued`;
    shownJob = job.id;
    refreshJobs();
  } catch (e) {
    $("#upload-status").textContent = e.message;
    $("#upload-status").className = "error";
  }
});

// ------------------------------------------------------------------------------------------------- jobs
const lastStatus = {};

async function refreshJobs() {
  let jobs;
  try { jobs = await (await api("/api/jobs")).json(); } catch (e) { return; }
  const body = $("#jobs tbody");
  body.replaceChildren(...jobs.map((j) => {
    const tr = document.createElement("tr");
    tr.dataset.job = j.id;
    tr.dataset.status = j.status;
    const cells = [j.id, j.created.replace("T", " ").replace("Z", ""), j.input_kind, j.status, null, j.grade || ""];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 4) {
        const bar = document.createElement("progress");
        bar.max = 1; bar.value = j.progress;
        td.append(bar, ` ${j.stage || ""}`);
      } else td.textContent = text;
      if (i === 3 && j.status === "failed") { td.className = "error"; td.title = j.error || ""; }
      tr.append(td);
    });
    tr.addEventListener("click", () => { shownJob = j.id; showResult(j); });
    return tr;
  }));
  const current = jobs.find((j) => j.id === shownJob);
  if (current && lastStatus[current.id] !== current.status) showResult(current);
  for (const j of jobs) lastStatus[j.id] = j.status;
}

// ------------------------------------------------------------------------------------------------- result
const fmt = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toPrecision(digits));

function fillTable(sel, rows) {
  $(sel).querySelector("tbody").replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = k;
    const b = document.createElement("td"); b.textContent = v;
    tr.append(a, b);
    return tr;
  }));
}

async function openFile(jobId, name, download) {
  const blob = await (await api(`/api/jobs/${jobId}/files/${name}`)).blob();
  const url = URL.createObjectURL(blob);
  if (download) {
    const a = document.createElement("a"); a.href = url; a.download = name; a.click();
  } else window.open(url, "_blank");
}

async function showResult(job) {
  $("#result").hidden = false;
  $("#result-id").textContent = job.id;
  const grade = $("#grade");
  grade.className = "grade";
  $("#grade-p").textContent = "";
  $("#links").replaceChildren();
  if (job.status !== "done") {
    grade.textContent = job.status === "failed" ? "failed" : "…";
    $("#messages").textContent = job.status === "failed" ? job.error : `${job.status}: ${job.stage || ""}`;
    return;
  }
  const a = await (await api(`/api/jobs/${job.id}/files/assessment.json`)).json();
  grade.textContent = a.grade || "not computed";
  if (a.grade) grade.classList.add(a.grade);
  if (a.grade_probability !== null) $("#grade-p").textContent = `p = ${fmt(a.grade_probability, 2)}`;
  $("#messages").textContent = [...(a.messages || []), a.out_of_distribution ? "OUT OF DISTRIBUTION" : ""].filter(Boolean).join(" · ");
  for (const [label, name, dl] of [["report (HTML)", "report.html", false], ["report (PDF)", "report.pdf", false],
    ["result.vtp", "result.vtp", true], ["assessment.json", "assessment.json", true]]) {
    const b = document.createElement("button");
    b.textContent = label;
    b.addEventListener("click", () => openFile(job.id, name, dl));
    $("#links").append(b);
  }
  const m = a.morphology;
  fillTable("#morphology", m ? Object.entries(m.values).map(([k, v]) => [k, `${fmt(v)} ${m.units[k] === "1" ? "" : m.units[k]}`])
    : [["sac", "not detected"]]);
  const h = a.hemodynamics;
  const hemo = h ? Object.entries(h).map(([k, v]) => [k, `${fmt(v.mean)} (${fmt(v.p05)}–${fmt(v.p95)}) ${v.unit === "1" ? "" : v.unit}`]) : [["sac", "not computed"]];
  if (a.risk_regions) for (const [k, v] of Object.entries(a.risk_regions)) hemo.push([`sac fraction: ${REGION_NAMES[k] || k}`, `${(100 * v).toFixed(1)} %`]);
  fillTable("#hemodynamics", hemo);
  const score = (s) => (s.score === null ? s.reason : `${s.score}${s.five_year_risk !== null ? ` (5-year risk ${(100 * s.five_year_risk).toFixed(1)} %)` : ""}`);
  fillTable("#scores", [["PHASES", score(a.phases)], ["ELAPSS", score(a.elapss)]]);
  const wall = await (await api(`/api/jobs/${job.id}/wall`)).json();
  showWall(wall);
}

// ------------------------------------------------------------------------------------------------- 3D view
function rampColour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  return RAMP[i].clone().lerp(RAMP[i + 1], x - i);
}

function colours(wall, name) {
  const f = wall.fields[name];
  const n = wall.points.length / 3;
  const out = new Float32Array(3 * n);
  const palette = REGION_COLOURS.map((c) => new THREE.Color(c));
  const [lo, hi] = f ? f.range : [0, 1];
  for (let i = 0; i < n; i++) {
    const c = !f ? palette[0] : name === "RISK_REGION" ? palette[f.values[i]] || palette[0]
      : rampColour((f.values[i] - lo) / (hi - lo || 1));
    out[3 * i] = c.r; out[3 * i + 1] = c.g; out[3 * i + 2] = c.b;
  }
  return out;
}

function legend(wall, name) {
  const el = $("#legend");
  el.replaceChildren();
  const f = wall.fields[name];
  if (!f) { el.textContent = `${name} not in this result`; return; }
  if (name === "RISK_REGION") {
    (wall.risk_categories || ["none", "low_wss_high_osi", "impingement"]).forEach((c, i) => {
      const s = document.createElement("span");
      s.innerHTML = `<i class="swatch" style="background:${REGION_COLOURS[i]}"></i>`;
      s.append(REGION_NAMES[c] || c);
      el.append(s);
    });
  } else {
    const s = document.createElement("span");
    s.innerHTML = `${fmt(f.range[0])} <i class="ramp"></i> ${fmt(f.range[1])}`;
    el.append(s);
  }
}

function showWall(wall) {
  const box = $("#view3d");
  if (viewer) { viewer.dispose(); viewer = null; }
  box.replaceChildren();
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  } catch (e) {
    box.textContent = `3D view unavailable in this browser (${e.message})`;
    return;
  }
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(box.clientWidth, box.clientHeight);
  renderer.setClearColor(0xffffff);
  box.append(renderer.domElement);

  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.BufferAttribute(new Float32Array(wall.points), 3));
  geometry.setIndex(new THREE.BufferAttribute(new Uint32Array(wall.triangles), 1));
  geometry.computeBoundingSphere();
  const centre = geometry.boundingSphere.center.clone();
  geometry.translate(-centre.x, -centre.y, -centre.z);
  geometry.computeVertexNormals();
  const field = $("#field").value;
  geometry.setAttribute("color", new THREE.BufferAttribute(colours(wall, field), 3));
  const mesh = new THREE.Mesh(geometry, new THREE.MeshLambertMaterial({ vertexColors: true, side: THREE.DoubleSide }));

  const scene = new THREE.Scene();
  scene.add(mesh);
  scene.add(new THREE.AmbientLight(0xffffff, 1.2));
  const camera = new THREE.PerspectiveCamera(35, box.clientWidth / box.clientHeight, 0.1, 10000);
  const light = new THREE.DirectionalLight(0xffffff, 1.8);
  camera.add(light);
  scene.add(camera);
  const r = geometry.boundingSphere.radius;
  camera.position.set(0, 0, 2.6 * r);
  const controls = new OrbitControls(camera, renderer.domElement);
  const render = () => renderer.render(scene, camera);
  controls.addEventListener("change", render);
  render();
  legend(wall, field);
  box.dataset.rendered = "1";
  box.dataset.vertices = String(wall.points.length / 3);

  const onField = () => {
    geometry.setAttribute("color", new THREE.BufferAttribute(colours(wall, $("#field").value), 3));
    legend(wall, $("#field").value);
    render();
  };
  $("#field").addEventListener("change", onField);
  viewer = {
    dispose() {
      $("#field").removeEventListener("change", onField);
      controls.dispose(); geometry.dispose(); renderer.dispose();
    },
  };
}

if (token) login(token).catch(() => logout(""));
