"""Thermal detection speed: one 640x512 frame through ``person`` + ``vehicle`` on one core.

Measured next to what it is compared with, in the same run: the time to decode the same JPEG,
the ``hotspot`` threshold detector, and the model at 0.8x input (what a slower machine could
trade).  The frames are real HIT-UAV test recordings (80 m) when ``../shared/data`` is there,
else a synthetic 640x512 grey frame.  The detectors run as the pipeline runs them: ``person``
first, then ``vehicle`` handing over to ``thermal-vehicle``, which reuses the same model pass.

    .venv/bin/python -m benchmarks.thermal [--frames 20]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _frames(n: int) -> list[tuple[str, bytes]]:
    from processing.detect.evaluate import data_root
    from processing.detect.hituav import hituav_samples

    root = data_root() / "hit-uav"
    if root.is_dir():
        return [(s.path.name, s.path.read_bytes()) for s in hituav_samples(root, "test")[:n]]
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (512, 640), np.uint8), (0, 0), 3)
    return [("synthetic.jpg", cv2.imencode(".jpg", img)[1].tobytes())]


def _ms(fn, items) -> tuple[float, float]:
    """Wall and CPU milliseconds per item (CPU time is what one free core would take; the
    wall time also counts waiting for a core on a shared machine)."""
    fn(items[0])
    t, c = time.perf_counter(), time.process_time()
    for it in items:
        fn(it)
    n = len(items)
    return (time.perf_counter() - t) / n * 1000, (time.process_time() - c) / n * 1000


def run(n_frames: int = 20) -> dict:
    """Milliseconds per frame, wall and CPU, for decoding and each detection path."""
    from processing.detect.base import FrameInfo
    from processing.detect.registry import detectors_for_frame, get_detector
    from processing.frames import decode_frame

    frames = _frames(n_frames)
    images = [decode_frame(b, n) for n, b in frames]
    infos = [FrameInfo(n, thermal=True) for n, _ in frames]
    both = detectors_for_frame([get_detector("person"), get_detector("vehicle")], True)
    hot = get_detector("hotspot", delta_c=3.0, encoding="celsius")
    small = [get_detector("person", scale=0.8), get_detector("thermal-vehicle", scale=0.8)]

    def search(dets):
        def f(i):
            img = images[i].copy()   # a new frame each time: no pass shared across frames
            return [d for det in dets for d in det.detect(img, infos[i])]
        return f

    idx = list(range(len(images)))
    decode = _ms(lambda i: decode_frame(frames[i][1], frames[i][0]), idx)
    t_both = _ms(search(both), idx)
    t_small = _ms(search(small), idx)
    t_hot = _ms(lambda i: hot.detect(images[i][..., 0].astype(np.float32), infos[i]), idx)
    r = lambda v: [round(v[0], 1), round(v[1], 1)]  # noqa: E731
    return {"frames": len(images), "first_frame": frames[0][0],
            "decode_ms_wall_cpu": r(decode), "person_vehicle_ms_wall_cpu": r(t_both),
            "person_vehicle_0.8x_ms_wall_cpu": r(t_small), "hotspot_ms_wall_cpu": r(t_hot),
            "flags_per_frame": round(sum(len(search(both)(i)) for i in idx) / len(idx), 1),
            "target_ms": 30.0, "detection_over_decode_cpu": round(t_both[1] / max(decode[1], 1e-9), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=20)
    a = ap.parse_args(argv)
    f = run(a.frames)
    print(f"{f['frames']} frame(s) 640x512 ({f['first_frame']} ...), 1 thread, onnxruntime; "
          "ms/frame, wall and CPU")
    rows = [("decode JPEG", "decode_ms_wall_cpu", ""),
            ("person + vehicle (one model pass)", "person_vehicle_ms_wall_cpu",
             f"   {f['flags_per_frame']} flags/frame   target <= 30 ms"),
            ("person + vehicle at 0.8x input", "person_vehicle_0.8x_ms_wall_cpu", ""),
            ("hotspot (threshold, for comparison)", "hotspot_ms_wall_cpu", "")]
    for label, key, tail in rows:
        wall, cpu = f[key]
        print(f"  {label:<36} {wall:7.1f} {cpu:7.1f}{tail}")
    print(f"  detection / decode (CPU)             {f['detection_over_decode_cpu']:7.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
