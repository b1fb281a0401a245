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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=20)
    a = ap.parse_args(argv)
    from processing.detect.base import FrameInfo
    from processing.detect.registry import detectors_for_frame, get_detector
    from processing.frames import decode_frame

    frames = _frames(a.frames)
    images = [decode_frame(b, n) for n, b in frames]
    infos = [FrameInfo(n, thermal=True) for n, _ in frames]
    both = detectors_for_frame([get_detector("person"), get_detector("vehicle")], True)
    hot = get_detector("hotspot", delta_c=3.0, encoding="celsius")
    small = [get_detector("person", scale=0.8), get_detector("thermal-vehicle", scale=0.8)]

    def run(dets):
        def f(i):
            img = images[i].copy()   # a new frame each time: no pass shared across frames
            return [d for det in dets for d in det.detect(img, infos[i])]
        return f

    idx = list(range(len(images)))
    decode = _ms(lambda i: decode_frame(frames[i][1], frames[i][0]), idx)
    t_both = _ms(run(both), idx)
    t_small = _ms(run(small), idx)
    t_hot = _ms(lambda i: hot.detect(images[i][..., 0].astype(np.float32), infos[i]), idx)
    n_flags = sum(len(run(both)(i)) for i in idx)
    print(f"{len(images)} frame(s) 640x512 ({frames[0][0]} ...), 1 thread, onnxruntime; "
          f"ms/frame, wall and CPU")
    print(f"  decode JPEG                          {decode[0]:7.1f} {decode[1]:7.1f}")
    print(f"  person + vehicle (one model pass)    {t_both[0]:7.1f} {t_both[1]:7.1f}   "
          f"{n_flags / len(idx):.1f} flags/frame   target <= 30 ms")
    print(f"  person + vehicle at 0.8x input       {t_small[0]:7.1f} {t_small[1]:7.1f}")
    print(f"  hotspot (threshold, for comparison)  {t_hot[0]:7.1f} {t_hot[1]:7.1f}")
    print(f"  detection / decode (CPU)             {t_both[1] / max(decode[1], 1e-9):7.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
