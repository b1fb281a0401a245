"""Run every benchmark in one go and print a table: ``python -m benchmarks`` (or benchmarks/run).

Each benchmark module exposes ``run() -> dict`` of figures, measured next to its own baseline in
the same run.  A benchmark whose data is missing (no ``../shared/data``) reports why it skipped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback

BENCHMARKS = [
    ("planning", "benchmarks.planning", "park-sized survey planning"),
    ("upload", "benchmarks.upload", "verified mission upload vs MAVProxy"),
    ("simulator", "benchmarks.simulator", "built-in copter + camera speed vs real time"),
    ("energy", "benchmarks.energy_backends", "same survey rehearsed on built-in copter and SITL"),
    ("sim_camera", "benchmarks.sim_camera", "simulated camera frames vs JPEG-encode floor"),
    ("processing", "benchmarks.processing", "pipeline frames/s vs decode-only floor"),
    ("detection", "benchmarks.detection", "detector precision/recall/AP50, false alarms"),
    ("georef", "benchmarks.georef_accuracy", "georeferencing error on real photos"),
    ("review", "benchmarks.review_api", "review API on 3,000 frames / 12,000 flags"),
    ("sightings", "benchmarks.sightings", "grouping 100,000 flags vs reading them; false sightings cut"),
    ("thermal", "benchmarks.thermal", "thermal person + vehicle per 640x512 frame vs decoding it"),
    ("parent_ceiling", "benchmarks.parent_ceiling", "frames/s the parent accepts from instant workers"),
    ("cluster", "benchmarks.cluster", "1 vs 2 real dask workers on Brighton, shared and blind"),
]


def machine() -> str:
    import os

    try:
        import psutil  # noqa: F401

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem}, Python {platform.python_version()}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--json", help="also write all figures to this JSON file")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.names or b[0] in args.names]
    results = {}
    print(f"machine: {machine()}")
    for name, module_name, what in chosen:
        print(f"\n== {name}: {what}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
            figures = module.run()
        except Exception as exc:  # a broken benchmark must not hide the others
            traceback.print_exc()
            figures = {"error": f"{type(exc).__name__}: {exc}"}
        figures["_seconds"] = round(time.perf_counter() - t0, 1)
        results[name] = figures
    print("\n| benchmark | figure | value |\n|---|---|---|")
    for name, figures in results.items():
        for key, value in figures.items():
            if isinstance(value, dict):
                for k2, v2 in value.items():
                    print(f"| {name} | {key}.{k2} | {_fmt(v2)} |")
            else:
                print(f"| {name} | {key} | {_fmt(value)} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "results": results}, f, indent=2, default=str)
    return 1 if any("error" in f for f in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
