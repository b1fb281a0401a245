"""Spotlights and headlights in night RGB frames.

Poachers shoot from the road with spotlights; from above at night these show as small,
saturated-bright spots on a dark frame, often with a soft glow around them.  The detector
works only on dark frames (mean brightness below ``dark_mean``, or ``FrameInfo.is_night``
says so): in daylight, sunlit roofs and water glints would look the same.

A spot is a connected component of pixels above ``max(min_level, background + contrast)``
(background: the frame's median brightness) that is compact (small, roughly round).  The score
combines how much brighter than the background it is, how compact it is, and how strongly it
stands out from its immediate surroundings.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import SPOTLIGHT, Detection, Detector, FrameInfo


class SpotlightDetector(Detector):
    """Bright compact point sources in dark RGB frames.

    Parameters
    ----------
    dark_mean
        A frame counts as night when its mean brightness (0-255) is below this.
    min_level, contrast
        A pixel is bright when above ``min_level`` and ``contrast`` above the background.
    max_area_frac
        Largest spot, as a fraction of the frame area (larger = a lit building, not a lamp).
    min_score
        Spots scoring below this are dropped.
    """

    name = "spotlight"
    classes = (SPOTLIGHT,)

    def __init__(self, dark_mean: float = 60.0, min_level: int = 200, contrast: int = 120,
                 max_area_frac: float = 0.002, min_score: float = 0.4):
        self.dark_mean = dark_mean
        self.min_level = min_level
        self.contrast = contrast
        self.max_area_frac = max_area_frac
        self.min_score = min_score

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if grey.dtype != np.uint8:
            return []   # radiometric frames go to the hot-spot detector
        mean = float(grey.mean())
        night = info.is_night if info is not None and info.is_night is not None else None
        if night is False or (night is None and mean >= self.dark_mean):
            return []
        background = float(np.median(grey))
        level = max(self.min_level, background + self.contrast)
        mask = (grey >= level).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        max_area = max(4, self.max_area_frac * grey.size)
        out = []
        H, W = grey.shape
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area > max_area:
                continue
            fill = area / float(w * h)                          # 0.785 for a disc
            aspect = min(w, h) / float(max(w, h))
            compact = float(np.clip(fill / 0.785, 0, 1) * aspect)
            # ring around the spot: a real light source stands far above it
            pad = max(3, int(max(w, h)))
            rx0, ry0 = max(0, x - pad), max(0, y - pad)
            rx1, ry1 = min(W, x + w + pad), min(H, y + h + pad)
            ring = grey[ry0:ry1, rx0:rx1].astype(np.float32)
            ring_mask = labels[ry0:ry1, rx0:rx1] != i
            surround = float(np.median(ring[ring_mask])) if ring_mask.any() else background
            peak = float(grey[y:y + h, x:x + w].max())
            stand_out = float(np.clip((peak - surround) / 150.0, 0, 1))
            bright = float(np.clip((peak - background) / 200.0, 0, 1))
            score = 0.4 * bright + 0.3 * compact + 0.3 * stand_out
            if score < self.min_score:
                continue
            out.append(Detection(SPOTLIGHT, score, float(x), float(y), float(x + w),
                                 float(y + h), self.name,
                                 {"peak": int(peak), "pixels": int(area),
                                  "frame_mean": round(mean, 1)}))
        out.sort(key=lambda d: -d.score)
        return out
