"""``uav process --dask`` throughput on real ``dask scheduler`` / ``dask worker`` processes: 1
worker against 2, with the frames on a folder the workers see (shared) and on one they cannot
see (blind: each worker in its own mount namespace with an empty tmpfs over the frames' folder,
so every frame travels as bytes; needs root for ``unshare --mount``).

Frames: the 12 Brighton photos (4000x2250 DJI JPEGs, 6 re-saved by a photo viewer and checked
against their neighbours' pixels) linked ``copies`` times into a temporary folder (72 by
default), default detectors (fire, smoke, vehicle).  Each worker has one thread
(``--nthreads 1``).  Every cluster first processes the 12 frames once into a throwaway file
(imports, models loaded), then the timed run.  The machine may be shared, so the rounds
alternate 1 and 2 workers and every round's figures are reported with the median ratio.

Run: ``python -m benchmarks.cluster [--copies 6] [--rounds 2] [--modes shared,blind]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processing.progress import Progress

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brighton"
DASK = Path(sys.executable).with_name("dask")


def _start(tmp: Path, workers: int, hidden: Path | None):
    info = tmp / f"sched-{time.monotonic_ns()}.json"
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    while not info.exists():
        time.sleep(0.1)
    time.sleep(0.3)
    address = json.loads(info.read_text())["address"]
    for k in range(workers):
        cwd = tmp / f"w{k}"
        cwd.mkdir(exist_ok=True)
        cmd = [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard",
               "--local-directory", str(cwd)]
        if hidden is not None:
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount -t tmpfs none "$0" && exec "$@"', str(hidden), *cmd]
        procs.append(subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs, address


def _stop(procs):
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def _cpu(procs) -> list[float]:
    """CPU seconds so far of each process and its children (``unshare`` wraps a blind worker)."""
    import psutil

    total = []
    for p in procs:
        ps = psutil.Process(p.pid)
        t = 0.0
        for q in (ps, *ps.children(recursive=True)):
            c = q.cpu_times()
            t += c.user + c.system
        total.append(t)
    return total


class _Outcomes(Progress):
    """A silent progress count that keeps when each outcome came back."""

    def __init__(self):
        super().__init__(every_s=1e9, echo=lambda line: None, bar=False)
        self.times: list[float] = []

    def update(self, failed: bool = False) -> None:
        self.times.append(time.perf_counter())
        super().update(failed)

    def steady(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0


def one(tmp: Path, frames: Path, warm: Path, workers: int, blind: bool) -> dict:
    from distributed import Client

    from processing.pipeline import process_frames

    procs, address = _start(tmp, workers, frames.parent if blind else None)
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=120)
            process_frames([warm], tmp / f"warm-{time.monotonic_ns()}.gpkg", dask_address=client,
                           progress=False)
            out = tmp / f"run-{time.monotonic_ns()}.gpkg"
            before = _cpu(procs)
            clock = _Outcomes()
            s = process_frames([frames], out, dask_address=client, progress=clock)
            spent = [round(b - a, 2) for a, b in zip(before, _cpu(procs), strict=True)]
            os.unlink(out)
    finally:
        _stop(procs)
    return {"workers": workers, "frames": s.processed, "failed": s.failed,
            "flags": sum(s.flags_by_class.values()), "seconds": round(s.elapsed_s, 2),
            "frames_per_s": round(s.frames_per_s, 2),
            # between the first and the last outcome: the run's fixed costs (metadata pass, the
            # first task's round trip, grouping sightings) left out, as in a long survey
            "steady_frames_per_s": round(clock.steady(), 2), "shipped": s.shipped,
            "shipped_mb": round(s.shipped_bytes / 1e6, 1),
            # CPU seconds per frame in process_frame: if this holds while frames/s does not
            # scale, the cores were busy with something else (load_avg: 1-minute, after the run)
            "worker_cpu_s_per_frame": round(s.worker_cpu_s / max(s.processed, 1), 3),
            # where the two cores went during the timed run: this process, the scheduler, each
            # worker process (all its threads: the search, its event loop, (un)pickling bytes)
            "cpu_s": {"parent": round(s.parent_cpu_s, 2), "scheduler": spent[0],
                      "workers": spent[1:]},
            "load_avg": round(os.getloadavg()[0], 2)}


def run(copies: int = 6, rounds: int = 2, modes=("shared", "blind")) -> dict:
    if not DATA.is_dir():
        return {"skipped": f"no Brighton frames at {DATA} (../shared/data)"}
    src = sorted(DATA.glob("DJI_*.JPG"))
    out: dict = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        card = tmp / "card"
        frames, warm = card / "flight", card / "warm"
        frames.mkdir(parents=True)
        warm.mkdir()
        for k in range(copies * len(src)):
            p = src[k % len(src)]
            os.symlink(p, frames / f"c{k // len(src):03d}_{p.name}")
        for p in src:
            os.symlink(p, warm / p.name)
        for mode in modes:
            if mode == "blind" and os.geteuid() != 0:
                out[mode] = {"skipped": "needs root for unshare --mount"}
                continue
            runs = []
            for _ in range(rounds):
                for n in (1, 2):
                    runs.append(one(tmp, frames, warm, n, mode == "blind"))
                    print(json.dumps({mode: runs[-1]}), file=sys.stderr)
            pairs = list(zip(runs[::2], runs[1::2], strict=True))
            ratios = [b["frames_per_s"] / a["frames_per_s"] for a, b in pairs]
            steady = [b["steady_frames_per_s"] / a["steady_frames_per_s"] for a, b in pairs]
            out[mode] = {"runs": runs, "ratio_2_over_1": [round(r, 2) for r in ratios],
                         "median_ratio": round(statistics.median(ratios), 2),
                         "steady_ratio_2_over_1": [round(r, 2) for r in steady],
                         "median_steady_ratio": round(statistics.median(steady), 2)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default="shared,blind")
    a = ap.parse_args()
    print(json.dumps(run(a.copies, a.rounds, tuple(a.modes.split(","))), indent=2))


if __name__ == "__main__":
    main()
