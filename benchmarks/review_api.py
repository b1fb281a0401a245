"""Review page on a big flight: API answer times, thumbnails made once then cached.

A synthetic flight of 3,000 frames and 12,000 flags is written through FlightStore (a real
GeoPackage); the review server answers over a real socket.  Baseline measured in the same run:
the naive page that loads every flag at once (``FlightStore.flags()`` + JSON).

Run: ``python -m benchmarks.review_api``
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import shapely

N_FRAMES = 3000
FLAGS_PER_FRAME = 4
BIG_W, BIG_H = 4000, 3000   # a DJI-sized frame for the thumbnail figure


def _flight(root: Path) -> Path:
    from processing.store import FlagRecord, FlightStore, FrameRecord

    gpkg = root / "big.gpkg"
    rng = np.random.default_rng(1)
    big = root / "big.jpg"
    img = rng.integers(0, 255, (BIG_H, BIG_W, 3), dtype=np.uint8)
    cv2.imwrite(str(big), cv2.GaussianBlur(img, (0, 0), 3))
    with FlightStore(gpkg) as store:
        for i in range(N_FRAMES):
            lat, lon = 43.0 + (i // 60) * 0.001, 131.0 + (i % 60) * 0.0012
            fp = shapely.box(lon - 0.0006, lat - 0.0004, lon + 0.0006, lat + 0.0004)
            rec = FrameRecord(path=str(big) if i == 0 else str(root / f"f{i:05d}.jpg"), sha256=None,
                              time=f"2024-04-18T{3 + i // 3600:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                              lat=lat, lon=lon, width=BIG_W, height=BIG_H, footprint=fp)
            flags = [FlagRecord(cls=("fire", "smoke", "vehicle", "hotspot")[k], score=float(rng.random()),
                                px_x0=100.0 * k, px_y0=100.0, px_x1=100.0 * k + 80, px_y1=180.0,
                                lat=lat, lon=lon + 0.0001 * k) for k in range(FLAGS_PER_FRAME)]
            store.add_frame_result(rec, flags)
    return gpkg


def _time(fn, repeat=5) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000.0


def run() -> dict:
    from processing.review.server import serve
    from processing.store import FlightStore

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        gpkg = _flight(root)
        write_s = time.perf_counter() - t0
        srv = serve(gpkg)
        try:
            def get(path):
                with urllib.request.urlopen(srv.url + path.lstrip("/"), timeout=60) as r:
                    return r.read()

            n_flags = N_FRAMES * FLAGS_PER_FRAME
            figures = {
                "frames": N_FRAMES,
                "flags": n_flags,
                "write_gpkg_s": write_s,
                "flight_summary_ms": _time(lambda: get("/api/flight")),
                "flag_page_100_ms": _time(lambda: get("/api/flags?limit=100")),
                "flag_page_last_filtered_ms": _time(lambda: get(f"/api/flags?class=smoke&min_score=0.5&offset={n_flags // 8 - 100}&limit=100")),
                "flag_detail_ms": _time(lambda: get(f"/api/flags/{n_flags // 2}")),
                "frame_detail_neighbours_ms": _time(lambda: get(f"/api/frames/{N_FRAMES // 2}")),
                "map_markers_all_ms": _time(lambda: get("/api/markers"), 3),
                "map_footprints_all_ms": _time(lambda: get("/api/frames"), 3),
            }
            t0 = time.perf_counter()
            get("/api/frames/1/thumb")
            figures["thumbnail_4000x3000_first_ms"] = (time.perf_counter() - t0) * 1000
            figures["thumbnail_cached_ms"] = _time(lambda: get("/api/frames/1/thumb"))

            def naive():
                with FlightStore.open(gpkg) as st:
                    json.dumps([f.__dict__ for f in st.flags()])
            figures["baseline_all_flags_at_once_ms"] = _time(naive, 3)
        finally:
            srv.close()
    return figures


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
