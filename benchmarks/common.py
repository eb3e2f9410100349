"""Shared helpers of the benchmark scripts: paths, timed subprocesses, machine description, percentiles.

Not a benchmark itself (``make bench`` runs ``benchmarks/run_all.py``, which runs the three benchmarks).
Starting and stopping servers reuses the e2e harness (``tests/e2e/conftest.py``): free ports, process groups,
health polling.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py`: make profiles, tests, ... importable
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "results" / "bench"
LOGS = RESULTS / "logs"
RASA_VENV = ROOT / ".venv-rasa"
RASA_BIN = RASA_VENV / "bin" / "rasa"
RASA_PY = RASA_VENV / "bin" / "python"
APP_PY = ROOT / ".venv" / "bin" / "python"

# Quiet, offline Rasa, as the Makefile exports.
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment with Rasa quietened, production-mode switches removed, plus ``extra``."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(QUIET_ENV)
    env.update(extra)
    return env


@dataclass
class Measured:
    """One finished subprocess: wall time, CPU time and the peak RSS of the largest process it waited for."""

    cmd: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    log: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = round(self.cpu_s, 2)
        for k in ("wall_s", "user_s", "sys_s", "peak_rss_mb"):
            d[k] = round(d[k], 2)
        return d


def run_measured(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Measured:
    """Run ``cmd`` to completion (output to ``log``) and measure it with ``wait4``'s resource usage.

    ``ru_maxrss`` of the child is the peak resident set of the biggest process in its tree that was waited for
    (Rasa trains in one process), so no sampling is needed.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return Measured(list(cmd), proc.returncode, wall, usage.ru_utime, usage.ru_stime, rss_kb / 1024, str(log))


def tail(path: Path | str, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def busy_processes() -> list[str]:
    """Command lines of other heavy jobs that would distort timings (pytest, rasa train/test, make test)."""
    pattern = re.compile(r"(-m pytest|\bpytest\b|rasa train|rasa test|make test)")
    me = os.getpid()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(proc.name)
            if pid == me:
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue
        if pattern.search(cmdline) and "benchmarks/" not in cmdline:
            found.append(f"{pid} {cmdline[:160]}")
    return found


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version_of(python: Path, *dists: str) -> dict[str, str]:
    code = (
        "import sys, importlib.metadata as m\n"
        "print('python', sys.version.split()[0])\n"
        "for d in sys.argv[1:]:\n"
        "    try: print(d, m.version(d))\n"
        "    except m.PackageNotFoundError: print(d, 'absent')\n"
    )
    try:
        out = subprocess.run([str(python), "-c", code, *dists], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    rasa_env = _version_of(RASA_PY, "rasa")
    app_env = _version_of(APP_PY, "rasa-sdk")
    return {
        "date": now_iso(),
        "nproc": usable,
        "cpu_model": _cpu_model(),
        "ram_gib": _mem_total_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python_app": app_env.get("python", platform.python_version()),
        "rasa_sdk": app_env.get("rasa-sdk"),
        "python_rasa": rasa_env.get("python"),
        "rasa": rasa_env.get("rasa"),
        "git_commit": _git("rev-parse", "--short", "HEAD").strip(),
        # tracked files the working tree has changed (what was measured is HEAD plus these), other than the
        # README and the benchmarks themselves
        "git_modified": [
            path for path in (line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines())
            if path and path != "README.md" and not path.startswith("benchmarks/")
        ],
        "load_average": load_average(),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def warn_if_busy() -> list[str]:
    """Print (and return) other heavy jobs on the machine: the numbers are then noisier."""
    busy = busy_processes()
    if busy:
        print("WARNING: other heavy jobs are running; timings will be noisy:\n  " + "\n  ".join(busy),
              file=sys.stderr)
    return busy
