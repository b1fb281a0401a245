"""Frames through the analyst's own commands: ``uav process`` then ``uav export --to csv``, run as
a user runs them (a separate process each), the flags read back from the CSV.  Shared by
:mod:`benchmarks.user_path` and :mod:`benchmarks.oblique`."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

UAV = [sys.executable, "-m", "uav"]


def _run(args: list[str]) -> str:
    r = subprocess.run(UAV + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"uav {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def process_and_export(frames: list[Path], work: Path, extra: list[str]) -> list[dict]:
    """Link ``frames`` into ``work``, run ``uav process`` and ``uav export``; the CSV rows."""
    folder = work / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for p in frames:
        link = folder / p.name
        if not link.exists():
            link.symlink_to(p)
    gpkg, out = work / "flight.gpkg", work / "flags.csv"
    summary = _run(["process", str(folder), "--out", str(gpkg), "--quiet", *extra])
    _run(["export", str(gpkg), "--to", "csv", "--per-flag", "--status", "all", "-o", str(out)])
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    print(summary.strip(), file=sys.stderr)
    return rows
