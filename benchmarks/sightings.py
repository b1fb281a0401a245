"""Sightings: grouping 100,000 flags on one core, and how much multi-view consensus cuts false
sightings on real (Brighton) and simulated frames.

Speed: a synthetic survey flight (25,000 overlapping frames along survey lines, 20,000 objects
each flagged in most of the frames over it, plus one-frame false flags: 100,000 flags) is
written through FlightStore into a real GeoPackage.  Baseline in the same run: reading the
flags alone (the same query and table the grouping starts from).  Then: grouping them
(``group_flags``, footprints included), and the whole ``update_sightings`` (read, group, write
the layer), first run and re-run.  numpy runs single-threaded here (no BLAS calls).

False sightings: the flights are processed with the shipped detectors; a sighting is called
"likely" when its consensus score is at least ``LIKELY_SCORE``.  Brighton has no fire or smoke,
so every fire/smoke sighting there is false; on the simulator's frames a sighting near no
planted object of its class is false.

Run: ``python -m benchmarks.sightings`` (``--no-frames`` for the speed part only, ``--no-speed``
for the false-sighting part only)
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

N_FLAGS = 100_000
N_FRAMES = 25_000
LAT0, LON0 = 43.10, 131.24
BRIGHTON = Path(__file__).resolve().parents[2] / "shared" / "data" / "brighton"


def _ll(e, n):
    return LON0 + e / (111320.0 * math.cos(math.radians(LAT0))), LAT0 + n / 110574.0


def _survey(root: Path) -> Path:
    """25,000 frames 100 x 75 m on lines 50 m apart, a photo every 25 m; 100,000 flags."""
    from processing.store import FlagRecord, FlightStore, FrameRecord

    rng = np.random.default_rng(7)
    per_line = 250
    centres = [((k % per_line) * 25.0, (k // per_line) * 50.0) for k in range(N_FRAMES)]
    width_m, height_m = per_line * 25.0, (N_FRAMES // per_line) * 50.0
    n_obj = 20_000
    objs = np.column_stack([rng.uniform(0, width_m, n_obj), rng.uniform(0, height_m, n_obj)])
    cls = rng.choice(["fire", "smoke", "vehicle"], n_obj, p=[0.3, 0.2, 0.5])
    # frames covering each object: footprint +-50 m east, +-37.5 m north
    per_frame: list[list] = [[] for _ in range(N_FRAMES)]
    budget = N_FLAGS - 10_000      # the rest: one-frame false flags
    made = 0
    for o in range(n_obj):
        col = np.arange(max(0, int((objs[o, 0] - 50) // 25) + 1), min(per_line, int((objs[o, 0] + 50) // 25) + 1))
        row = np.arange(max(0, int((objs[o, 1] - 37.5) // 50) + 1), int((objs[o, 1] + 37.5) // 50) + 1)
        cover = [r * per_line + c for r in row for c in col if r * per_line + c < N_FRAMES]
        for f in cover:
            if made < budget and rng.random() < 0.8:
                per_frame[f].append((cls[o], objs[o, 0] + rng.normal(0, 2), objs[o, 1] + rng.normal(0, 2)))
                made += 1
    for _ in range(N_FLAGS - made):
        f = int(rng.integers(N_FRAMES))
        e, n = centres[f]
        per_frame[f].append((str(rng.choice(["fire", "smoke", "vehicle"])), e + rng.uniform(-45, 45),
                             n + rng.uniform(-35, 35)))
    gpkg = root / "survey.gpkg"
    with FlightStore(gpkg) as store:
        for k, (e, n) in enumerate(centres):
            lon, lat = _ll(e, n)
            corners = [_ll(e + dx, n + dy) for dx, dy in ((-50, 37.5), (50, 37.5), (50, -37.5), (-50, -37.5))]
            rec = FrameRecord(path=f"/survey/f{k:05d}.jpg", sha256=f"{k:064x}", lat=lat, lon=lon,
                              time=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1.7e9 + 2 * k)) + "Z",
                              alt_rel=80.0, pitch=-90.0, gsd_m=0.025, status="done",
                              footprint=shapely.Polygon(corners))
            flags = []
            for c, fe, fn in per_frame[k]:
                flon, flat = _ll(fe, fn)
                flags.append(FlagRecord(cls=str(c), score=float(rng.uniform(0.3, 0.95)), px_x0=0, px_y0=0,
                                        px_x1=20, px_y1=20, lat=flat, lon=flon))
            store.add_frame_result(rec, flags)
    return gpkg


def speed() -> dict:
    from processing.sightings import group_flags
    from processing.store import FlightStore
    from processing.store.sightings import read_flag_table, read_frame_cover, update_sightings

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gpkg = _survey(Path(tmp))
        build_s = time.perf_counter() - t0
        with FlightStore.open(gpkg) as store:
            read, group, cover = [], [], []
            for _ in range(3):
                t0 = time.perf_counter()
                table = read_flag_table(store)[0]
                read.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                frames = read_frame_cover(store)
                cover.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                g = group_flags(table, frames)
                group.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            first = update_sightings(store)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            update_sightings(store)
            again_s = time.perf_counter() - t0
    return {"flags": len(table), "frames": len(frames.fid), "sightings": len(g.sightings),
            "likely_sightings": first.likely, "build_gpkg_s": round(build_s, 1),
            "baseline_read_flags_s": round(min(read), 3), "read_footprints_s": round(min(cover), 3),
            "group_s": round(min(group), 3), "group_vs_read": round(min(group) / min(read), 2),
            "update_first_s": round(first_s, 2), "update_rerun_s": round(again_s, 2), "target_group_s": 2.0}


def _false_counts(sightings, is_false) -> dict:
    from processing.sightings import LIKELY_SCORE

    false = [s for s in sightings if is_false(s)]
    return {"sightings": len(sightings), "false": len(false),
            "false_likely": sum(s["score"] >= LIKELY_SCORE for s in false),
            "true_likely": sum(s["score"] >= LIKELY_SCORE for s in sightings if not is_false(s)),
            "true": len(sightings) - len(false)}


COLOUR_RULES = ("fire-colour", "smoke-colour")   # the baselines: many false alarms to cut
LOW_THRESHOLD = 0.1   # the learned detectors far below their operating points: a noisy detector


def _noisy():
    from processing.detect.registry import get_detector

    return [get_detector(n, threshold=LOW_THRESHOLD) for n in ("fire", "smoke", "vehicle")]


def brighton(root: Path) -> dict:
    from processing.pipeline import process_frames
    from processing.sightings_score import read_sightings

    if not BRIGHTON.is_dir():
        return {"skipped": f"no Brighton frames at {BRIGHTON}"}
    frames = sorted(str(p) for p in BRIGHTON.glob("*.JPG"))
    out = {}
    for label, detectors in (("learned", ("fire", "smoke", "vehicle")), ("colour_rules", COLOUR_RULES),
                             (f"learned_at_{LOW_THRESHOLD}", _noisy())):
        gpkg = root / f"brighton-{label}.gpkg"
        # detector objects (an ONNX session) cannot be sent to worker processes: run in this one
        s = process_frames(frames, gpkg, detectors=detectors, progress=False,
                           workers=2 if isinstance(detectors[0], str) else 0)
        rows = read_sightings(gpkg)
        fs = [r for r in rows if r["class"] in ("fire", "smoke")]
        out[label] = {"frames": s.done, "flags": s.flags_by_class, **_false_counts(fs, lambda r: True)}
        if label == "learned":
            out[label]["vehicles_truth_unknown"] = len([r for r in rows if r["class"] == "vehicle"])
    return out


def simulated(root: Path) -> dict:
    from processing.pipeline import process_frames
    from processing.scoring import load_truth_objects
    from processing.sightings_score import read_sightings, score_sightings
    from uav.cli.demo import run_demo

    res = run_demo(root / "demo", quick=True, workers=2, echo=lambda *_: None)
    truth = load_truth_objects(res.frames_dir / "truth.json")
    out = {}
    runs = (("learned", res.gpkg_path, None), ("colour_rules", root / "sim-colour.gpkg", COLOUR_RULES),
            (f"learned_at_{LOW_THRESHOLD}", root / "sim-noisy.gpkg", _noisy()))
    for label, gpkg, detectors in runs:
        if detectors is not None:
            process_frames([str(p) for p in sorted(res.frames_dir.glob("*.jpg"))], gpkg, detectors=detectors,
                           workers=2 if isinstance(detectors[0], str) else 0, progress=False)
        rows = read_sightings(gpkg)
        sc = score_sightings(rows, truth, 15.0)
        false_ids = {s["fid"] for s in sc.false}
        likely = {r["fid"] for r in rows if r["score"] >= 0.5}
        out[label] = {**_false_counts(rows, lambda r, f=false_ids: r["fid"] in f),
                      "planted_found": sc.found,
                      "planted_found_likely": sum(1 for o in sc.objects if o["sighting"] in likely)}
    return out


def run(frames: bool = True, speed_part: bool = True) -> dict:
    out = {"speed": speed()} if speed_part else {}
    if frames:
        with tempfile.TemporaryDirectory() as tmp:
            out["brighton"] = brighton(Path(tmp))
            out["simulated"] = simulated(Path(tmp))
    return out


def main() -> None:
    import json

    print(json.dumps(run(frames="--no-frames" not in sys.argv, speed_part="--no-speed" not in sys.argv),
                     indent=1, default=str))


if __name__ == "__main__":
    main()
