"""Smooth value noise: the one source of natural-looking variation in the simulated scene."""

from __future__ import annotations

import math

import cv2
import numpy as np


def value_noise(shape: tuple[int, int], cell_px: float, rng: np.random.Generator, octaves: int = 1) -> np.ndarray:
    """Smooth value noise in [0, 1] with features ``cell_px`` pixels across (plus finer octaves)."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cell = max(cell_px, 1.0)
    for _ in range(octaves):
        gh, gw = int(math.ceil(h / cell)) + 3, int(math.ceil(w / cell)) + 3
        grid = rng.random((gh, gw)).astype(np.float32)
        big = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(cell), int(cell)
        out += amp * big[oy:oy + h, ox:ox + w]
        total += amp
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.full_like(out, 0.5)


__all__ = ["value_noise"]
