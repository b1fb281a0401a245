"""Real ``dask scheduler`` / ``dask worker`` processes for the cluster tests (Dask's own
commands from the venv), a worker optionally in its own mount namespace with an empty tmpfs
over the frames' folder, so it cannot read them (``unshare --mount``; needs root)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

DASK = Path(sys.executable).with_name("dask")
UAV = Path(sys.executable).with_name("uav")
BRIGHTON = Path(__file__).resolve().parents[3] / "shared" / "data" / "brighton"


def unshare_works() -> str | None:
    if not DASK.exists():
        return f"no {DASK} (install dask[distributed])"
    if not shutil.which("unshare"):
        return "no unshare command to give the worker its own mount namespace"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if r.returncode:
        return f"cannot make a mount namespace here ({r.stderr.decode().strip()}); needs root"
    return None


def start_scheduler(tmp: Path, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    info = tmp / f"scheduler-{time.monotonic_ns()}.json"   # a second one in the same folder
    proc = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(info)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 30
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(50):
        try:
            return proc, json.loads(info.read_text())["address"]
        except (ValueError, KeyError, FileNotFoundError):
            time.sleep(0.1)
    proc.kill()
    pytest.fail("dask scheduler did not start")


def start_worker(address: str, cwd: Path, hidden: Path | None = None, env: dict | None = None,
                 nanny: bool = True) -> subprocess.Popen:
    cwd.mkdir(exist_ok=True)
    cmd = [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--local-directory",
           str(cwd), "--name", cwd.name, *(() if nanny else ("--no-nanny",))]
    if hidden is not None:   # its own mount namespace, an empty tmpfs over the frames' folder
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs none "$0" && exec "$@"', str(hidden), *cmd]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})


def stop(*procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def frames_table(db) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)   # never creates one
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT name, status, sha256, yaw_corrected, round(lat, 7), round(lon, 7) FROM frames")}
    finally:
        con.close()


def flags_table(db) -> list:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)   # never creates one
    try:
        return sorted(con.execute(
            "SELECT fr.name, f.class, round(f.score, 3), round(f.px_x0), round(f.px_y0), round(f.px_x1), "
            "round(f.px_y1), round(f.lat, 6), round(f.lon, 6) FROM flags f JOIN frames fr ON fr.fid = f.frame_fid"))
    finally:
        con.close()
