"""Training-time hard negatives: painted look-alikes stay off the labelled vehicles."""

from __future__ import annotations

import random

import numpy as np

from processing.detect.training import paint_lookalikes


def test_lookalikes_darken_or_mark_the_ground_but_never_the_labelled_cars():
    rng = random.Random(3)
    view = np.full((320, 320, 3), 150, np.uint8)
    cars = np.array([[40, 40, 80, 56], [200, 250, 240, 266]], np.float32)
    changed = 0
    for _ in range(200):
        out = paint_lookalikes(view, cars, rng)
        assert out.shape == view.shape and out.dtype == np.uint8
        for x0, y0, x1, y1 in cars.astype(int):
            assert (out[y0:y1, x0:x1] == 150).all(), "a look-alike was painted over a labelled car"
        diff = np.abs(out.astype(int) - 150).max(axis=2) > 8
        changed += int(diff.any())
        dark = out[diff]
        if len(dark) and dark.mean() < 150:
            # a shadow lit by the sky: blue stays brighter than red
            assert dark[:, 0].mean() >= dark[:, 2].mean()
    assert changed >= 100, f"only {changed} of 200 views got a look-alike"
