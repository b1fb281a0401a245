"""Speed of the simulated camera: can a rehearsal render its photos at >= 50x real time?

A 20-minute survey at 10 m/s taking ~300 photos: render each frame at scale 0.25 of the
mavic3e-wide camera (1320x989), write it as JPEG + EXIF + XMP, and compare with the floor of the
same run: encoding the same frame to JPEG alone.

    .venv/bin/python -m benchmarks.sim_camera [--frames 300] [--scale 0.25]

``run()`` returns the figures for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2
import numpy as np

from simulators.frames import FrameCollector
from simulators.scene import Scene
from uav.geo import offset_lonlat
from uav.profiles import get_camera


def run(frames: int = 300, scale: float = 0.25, flight_s: float = 1200.0, verbose: bool = False) -> dict:
    """Render a survey's photos; figures in milliseconds per frame and times real time."""
    args = argparse.Namespace(frames=frames, scale=scale, flight_s=flight_s)
    cam = get_camera("mavic3e-wide")
    bounds = (131.200, 43.100, 131.2125, 43.109)  # ~1 x 1 km
    t0 = time.perf_counter()
    scene = Scene.generate(bounds, seed=1, ground_alt_amsl=100.0)
    _ = scene.texture
    t_scene = time.perf_counter() - t0

    # Lawnmower lines 120 m apart, photos every ~20 m along them.
    lon0, lat0 = 131.2010, 43.1010
    poses = []
    step, lines = 20.0, 8
    per_line = max(1, args.frames // lines)
    for i in range(args.frames):
        line, k = divmod(i, per_line)
        north = (k if line % 2 == 0 else per_line - 1 - k) * step
        lon, lat = offset_lonlat(lon0, lat0, (line % lines) * 120.0, north % 900)
        poses.append((float(lat), float(lon), 0.0 if line % 2 == 0 else 180.0))

    with tempfile.TemporaryDirectory() as tmp:
        fc = FrameCollector(tmp, scene, cam, args.scale)
        fc.sim_camera.render(poses[0][0], poses[0][1], 160.0, 0.0)  # warm: pyramids, sprites
        render_s = []
        t1 = time.perf_counter()
        for lat, lon, yaw in poses:
            r0 = time.perf_counter()
            fc.sim_camera.render(lat, lon, 160.0, yaw)
            render_s.append(time.perf_counter() - r0)
        t_render = time.perf_counter() - t1
        t2 = time.perf_counter()
        for i, (lat, lon, yaw) in enumerate(poses):
            fc.on_trigger(lat, lon, 160.0, 60.0, yaw, 0.0, 0.0, i * args.flight_s / len(poses), i + 1)
        fc.finish()
        t_full = time.perf_counter() - t2
        img = fc.sim_camera.render(poses[0][0], poses[0][1], 160.0, 0.0)
        t3 = time.perf_counter()
        for _ in range(len(poses)):
            cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        t_encode = time.perf_counter() - t3
    n = len(poses)
    w, h = fc.sim_camera.size
    figures = {
        "texture_build_s": round(t_scene, 2),
        "frame_size": f"{w}x{h}",
        "render_ms_per_frame": round(1000 * t_render / n, 2),
        "render_write_ms_per_frame": round(1000 * t_full / n, 2),
        "baseline_jpeg_encode_ms_per_frame": round(1000 * t_encode / n, 2),
        "times_real_time": round(args.flight_s / t_full, 1),
    }
    if not verbose:
        return figures
    print(f"scene ~1 km2: texture {scene.width_px}x{scene.height_px} px at {scene.resolution_m} m/px, "
          f"built in {t_scene:.2f} s (once per rehearsal)")
    print(f"frames: {n} at {w}x{h} (mavic3e-wide x {args.scale})")
    print(f"  render only        : {1000 * t_render / n:6.1f} ms/frame (median {1000 * np.median(render_s):.1f})")
    print(f"  render + JPEG/EXIF : {1000 * t_full / n:6.1f} ms/frame, {t_full:.1f} s for the flight")
    print(f"  baseline JPEG only : {1000 * t_encode / n:6.1f} ms/frame (same frame, same run)")
    print(f"  a {args.flight_s / 60:.0f}-minute flight's photos render at "
          f"{args.flight_s / t_full:.0f}x real time (target >= 50x, flight model not included)")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--flight-s", type=float, default=1200.0, help="flight time the frames stand for")
    args = ap.parse_args()
    run(args.frames, args.scale, args.flight_s, verbose=True)


if __name__ == "__main__":
    main()
