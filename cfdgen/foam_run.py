"""Running OpenFOAM utilities and solvers: environment, MPI, live log monitoring and divergence detection.

The log monitor is pure (it reads lines) so its verdicts test without OpenFOAM; the runner is the only place
that starts OpenFOAM processes. A diverging solver is stopped as soon as the monitor sees it, so a blown-up
run costs seconds, not the rest of its cycle.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cfdgen.errors import IahemoError

FOAM_DIRS = ("/usr/share/openfoam", "/usr/lib/openfoam/openfoam")


class FoamError(IahemoError):
    """OpenFOAM is missing or one of its utilities failed."""


def foam_env() -> dict[str, str]:
    """Process environment for OpenFOAM tools.

    Debian's v1912 only needs ``WM_PROJECT_DIR`` (it looks for etc/controlDict there); a sourced ESI install
    already has it and is left alone.
    """
    env = dict(os.environ)
    if "WM_PROJECT_DIR" not in env:
        for d in FOAM_DIRS:
            if Path(d, "etc", "controlDict").is_file():
                env["WM_PROJECT_DIR"] = d
                break
    # Open MPI refuses root without these; harmless otherwise.
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise FoamError(
            f"OpenFOAM tool '{tool}' not found: install OpenFOAM (Debian: apt-get install -y openfoam) "
            "or source its etc/bashrc"
        )
    return path


def run_utility(
    args: Sequence[str],
    case_dir: str | Path,
    log: str | Path | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> str:
    """Run an OpenFOAM utility on ``case_dir``; its output goes to ``log``; a failure names the tool and why."""
    require(args[0])
    try:
        proc = subprocess.run(
            [*args, "-case", str(case_dir)],
            capture_output=True,
            text=True,
            env=foam_env(),
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise FoamError(f"{args[0]} did not finish within {timeout:.0f} s") from None
    out = proc.stdout + proc.stderr
    if log is not None:
        Path(log).write_text(out)
    if check and (proc.returncode != 0 or "FOAM FATAL" in out):
        raise FoamError(f"{args[0]} failed on {case_dir}: {fatal_message(out)}")
    return out


def fatal_message(text: str) -> str:
    """The one informative line of an OpenFOAM fatal error (or the last non-empty line)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "FOAM FATAL" in ln:
            detail = [x for x in lines[i + 1 : i + 6] if not x.startswith(("From ", "in file", "on line"))]
            return " ".join(detail[:2])[:300] or ln
    return lines[-1][:300] if lines else "no output"


# ---------------------------------------------------------------------------------------------------------------
# Log monitoring


@dataclass(frozen=True)
class DivergenceConfig:
    """When a run counts as diverged. Adaptive time stepping holds Courant near max_co; far above it, or a time
    step collapsing towards zero, means the solution is blowing up."""

    max_courant: float = 20.0
    min_delta_t: float = 1e-9  # s
    max_continuity: float = 1e-2  # local time-step continuity error (sum local)
    continuity_growth: float = 1e4  # ... or this many times its median over the run so far


@dataclass
class LogState:
    time: float = 0.0
    delta_t: float = math.nan
    steps: int = 0
    courant_max: float = 0.0  # over the run
    courant_last: float = 0.0
    continuity_max: float = 0.0
    continuity_history: list[float] = field(default_factory=list)
    diverged: str | None = None  # reason
    fatal: str | None = None
    build: str = ""  # OpenFOAM build from the log banner, e.g. "OPENFOAM=1912 patch=200626"


_FLOAT = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf|-nan|-inf))"
_TIME = re.compile(r"^Time = " + _FLOAT + r"\s*$")
_DT = re.compile(r"^deltaT = " + _FLOAT)
_CO = re.compile(r"^Courant Number mean: " + _FLOAT + r" max: " + _FLOAT)
_CONT = re.compile(r"time step continuity errors : sum local = " + _FLOAT)
_NAN = re.compile(r"\b-?nan\b|\binf\b", re.IGNORECASE)


class LogMonitor:
    """Feed solver log lines; ``state.diverged`` names the first reason the run must stop."""

    def __init__(self, config: DivergenceConfig = DivergenceConfig()):
        self.config = config
        self.state = LogState()
        self._fatal_lines: list[str] | None = None

    def feed(self, line: str) -> None:
        s, c = self.state, self.config
        text = line.strip()
        if self._fatal_lines is not None:
            self._fatal_lines.append(text)
            s.fatal = fatal_message("FOAM FATAL\n" + "\n".join(self._fatal_lines))
            return
        if text.startswith("Build") and ":" in text:
            s.build = text.split(":", 1)[1].strip()
            return
        # "trapFpe: Floating point exception trapping enabled" is the banner, not a crash
        if "sigFpe::sigHandler" in text or text.startswith("Floating point exception"):
            self._stop("floating point exception (the solution blew up)")
            s.fatal = s.fatal or text
            return
        if "FOAM FATAL" in text:
            self._fatal_lines = []
            s.fatal = text
            return
        if m := _TIME.match(text):
            s.time = float(m.group(1))
            s.steps += 1
            return
        if m := _DT.match(text):
            s.delta_t = float(m.group(1))
            if not math.isfinite(s.delta_t):
                self._stop(f"time step is {m.group(1)} at t = {s.time:g} s")
            elif s.delta_t < c.min_delta_t:
                self._stop(f"time step collapsed to {s.delta_t:.3g} s at t = {s.time:g} s")
            return
        if m := _CO.match(text):
            co = float(m.group(2))
            s.courant_last = co
            if not math.isfinite(co):
                self._stop(f"Courant number is {m.group(2)} at t = {s.time:g} s")
            else:
                s.courant_max = max(s.courant_max, co)
                if co > c.max_courant:
                    self._stop(f"Courant number {co:.3g} exceeds {c.max_courant:g} at t = {s.time:g} s")
            return
        if m := _CONT.search(text):
            err = float(m.group(1))
            if not math.isfinite(err):
                self._stop(f"continuity error is {m.group(1)} at t = {s.time:g} s")
                return
            hist = s.continuity_history
            s.continuity_max = max(s.continuity_max, err)
            if err > c.max_continuity:
                self._stop(f"continuity error {err:.3g} exceeds {c.max_continuity:g} at t = {s.time:g} s")
            elif len(hist) >= 20:
                ref = sorted(hist)[len(hist) // 2]
                if ref > 0 and err > c.continuity_growth * ref:
                    self._stop(f"continuity error grew {err / ref:.3g}-fold to {err:.3g} at t = {s.time:g} s")
            hist.append(err)
            if len(hist) > 2000:
                del hist[:1000]
            return
        if ("Solving for" in text or "residual" in text.lower()) and _NAN.search(text):
            self._stop(f"NaN/inf in the solver residuals at t = {s.time:g} s")

    def _stop(self, reason: str) -> None:
        if self.state.diverged is None:
            self.state.diverged = reason


# ---------------------------------------------------------------------------------------------------------------
# Running a solver


@dataclass(frozen=True)
class SolverOutcome:
    # "converged" (ran to the end), "diverged" (stopped by the monitor), "failed" (crash/exit code), "stopped" (a
    # signal from outside: says nothing about the case)
    status: str
    reason: str
    state: LogState
    returncode: int


def solver_command(app: str, n_procs: int) -> list[str]:
    require(app)
    if n_procs <= 1:
        return [app]
    require("mpirun")
    extra = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return ["mpirun", *extra, "--oversubscribe", "-np", str(n_procs), app, "-parallel"]


def run_solver(
    app: str,
    case_dir: str | Path,
    log_path: str | Path,
    n_procs: int = 1,
    divergence: DivergenceConfig = DivergenceConfig(),
    on_time: Callable[[float], None] | None = None,
) -> SolverOutcome:
    """Run ``app`` on ``case_dir`` (appending its output to ``log_path``), stopping it when it diverges."""
    cmd = [*solver_command(app, n_procs), "-case", str(case_dir)]
    monitor = LogMonitor(divergence)
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=foam_env(),
            start_new_session=True,  # so that stopping it also stops mpirun's ranks
            preexec_fn=_die_with_parent,
        )
        last_time = -1.0
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                monitor.feed(line)
                if monitor.state.diverged:
                    _stop(proc)
                    break
                if on_time is not None and monitor.state.time != last_time:
                    last_time = monitor.state.time
                    on_time(last_time)
            rc = proc.wait()
        except BaseException:
            _stop(proc)
            raise
    outcome = solver_outcome(app, monitor.state, rc)
    if outcome.status == "diverged":
        Path(log_path).open("a").write(f"\n[iahemo] stopped: {outcome.reason}\n")
    return outcome


def solver_outcome(app: str, st: LogState, rc: int) -> SolverOutcome:
    """What a finished solver process amounts to, from its log's state and its exit status."""
    if st.diverged:
        return SolverOutcome("diverged", st.diverged, st, rc)
    if st.fatal:
        return SolverOutcome("failed", f"{app} crashed: {st.fatal}", st, rc)
    if rc < 0:
        # A signal from outside (a job's time limit, the out-of-memory killer, a user) is not the solver's failure;
        # saying so keeps a stopped run from being read as a case that cannot be simulated.
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        reason = f"{app} was stopped by {name} at t = {st.time:g} s (from outside the solver: a time limit, the "
        reason += "out-of-memory killer or a user)"
        return SolverOutcome("stopped", reason, st, rc)
    if rc != 0:
        return SolverOutcome("failed", f"{app} crashed: {app} exited with status {rc}", st, rc)
    return SolverOutcome("converged", "", st, rc)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the Python parent dies (killed job, Ctrl-C, scheduler
    preemption). Its own session would otherwise keep the solver writing into a run folder nobody owns."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's cleanup handlers still stop it in most cases
        pass


_PR_SET_PDEATHSIG = 1


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
