"""Colour-rule fire and smoke detectors: the baselines the learned detectors are compared with.

They need no model and are easy to explain, but they cannot tell a fire from a red roof or
smoke from a grey road; use them as a comparison (``fire-colour``, ``smoke-colour``), not as
the product.

- Fire: flame pixels are bright, red-dominant and saturated (R > G > B with a large R − B
  gap, and in YCrCb Cr well above Cb and the frame's mean Cr).
- Smoke: smoke pixels are unsaturated, mid-to-light grey and slightly blue-grey, and smoke is
  soft: the rule keeps only smooth (low local gradient) grey regions.

Matching pixels are cleaned with a morphological opening and grouped into connected
components; each large enough component becomes a box whose score grows with how dense and
how strong the rule match is.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import FIRE, SMOKE, Detection, Detector, FrameInfo

WORK_SIDE = 800   # rules run on a copy whose longest side is this many pixels


def _work_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    f = min(1.0, WORK_SIDE / max(h, w))
    if f < 1.0:
        image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return image, f


def _components(mask: np.ndarray, strength: np.ndarray, f: float, cls: str, name: str,
                min_area_frac: float, min_score: float) -> list[Detection]:
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = max(12, min_area_frac * mask.size)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < min_area:
            continue
        density = area / float(w * h)
        s = float(strength[labels == i].mean())
        score = float(np.clip(0.5 * s + 0.5 * density, 0, 1))
        if score < min_score:
            continue
        out.append(Detection(cls, score, x / f, y / f, (x + w) / f, (y + h) / f, name,
                             {"pixels": int(area / (f * f))}))
    return out


class FireColourDetector(Detector):
    """Flame-coloured regions (baseline)."""

    name = "fire-colour"
    classes = (FIRE,)

    def __init__(self, min_score: float = 0.35, min_area_frac: float = 5e-5):
        self.min_score = min_score
        self.min_area_frac = min_area_frac

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        img, f = _work_copy(image)
        b, g, r = (img[..., i].astype(np.int16) for i in range(3))
        ycc = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb).astype(np.int16)
        y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
        mask = ((r > 180) & (r >= g) & (g > b) & (r - b > 70) & (cr > cb + 30)
                & (cr > cr.mean() + 15) & (y > 110))
        strength = np.clip((r - b - 70) / 120.0, 0, 1)
        return _components(mask, strength, f, FIRE, self.name, self.min_area_frac,
                           self.min_score)


class SmokeColourDetector(Detector):
    """Soft grey regions (baseline)."""

    name = "smoke-colour"
    classes = (SMOKE,)

    def __init__(self, min_score: float = 0.45, min_area_frac: float = 2e-3):
        self.min_score = min_score
        self.min_area_frac = min_area_frac

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        img, f = _work_copy(image)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        s, v = hsv[..., 1].astype(np.int16), hsv[..., 2].astype(np.int16)
        b, r = img[..., 0].astype(np.int16), img[..., 2].astype(np.int16)
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        blur = cv2.GaussianBlur(grey, (0, 0), 2.0)
        grad = cv2.magnitude(cv2.Sobel(blur, cv2.CV_32F, 1, 0), cv2.Sobel(blur, cv2.CV_32F, 0, 1))
        smooth = cv2.GaussianBlur(grad, (0, 0), 4.0) < 25
        mask = (s < 40) & (v > 110) & (v < 235) & (b >= r - 5) & smooth
        strength = np.clip((40 - s) / 40.0, 0, 1)
        return _components(mask, strength, f, SMOKE, self.name, self.min_area_frac,
                           self.min_score)
