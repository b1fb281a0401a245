"""At what resolution a frame is searched: from its ground sample distance to the model's own.

A learned model finds objects best at the size it was trained on (a car 30-60 px long).  A
frame's GSD (metres per pixel, from height above ground, focal length and sensor) says how big
objects appear, so each frame is resampled to the model's ``canonical_gsd_m`` instead of being
cut into a fixed grid of full-resolution tiles: a 4000 px frame taken at 1.7 cm/px becomes a
~570 px image at 12 cm/px.  JPEG frames are then decoded straight at 1/2, 1/4 or 1/8 size
(libjpeg's DCT scaling) when that is still fine enough for every detector.

A frame without a pose has no GSD: it is searched at a few scales, one per assumed footprint
width (:data:`FALLBACK_GROUND_WIDTHS_M`, about 30, 60 and 120 m above ground for a usual
drone camera).
"""

from __future__ import annotations

__all__ = ["SCALE_TOLERANCE", "FALLBACK_GROUND_WIDTHS_M", "LIBJPEG_REDUCTIONS", "gsd_scale",
           "fallback_scales", "decode_reduction"]

# Resampling by a factor within this range is skipped: the models were trained with random
# scale changes of at least 0.7-1.4, so a frame this close to the canonical GSD is seen as is.
SCALE_TOLERANCE = (0.8, 1.25)
FALLBACK_GROUND_WIDTHS_M = (45.0, 90.0, 180.0)
LIBJPEG_REDUCTIONS = (1, 2, 4, 8)


def gsd_scale(gsd_m: float, canonical_gsd_m: float) -> float:
    """Resize factor taking a frame at ``gsd_m`` to the model's GSD (1.0 when close enough)."""
    s = gsd_m / canonical_gsd_m
    lo, hi = SCALE_TOLERANCE
    return 1.0 if lo <= s <= hi else s


def fallback_scales(long_side_px: int, canonical_gsd_m: float,
                    widths_m=FALLBACK_GROUND_WIDTHS_M) -> list[float]:
    """Resize factors for a frame of unknown GSD, one per assumed footprint width."""
    return [w / canonical_gsd_m / long_side_px for w in widths_m]


def decode_reduction(fraction_needed: float, allowed=LIBJPEG_REDUCTIONS) -> int:
    """The coarsest libjpeg reduction whose resolution is still ``fraction_needed`` of full.

    A detector that will shrink the frame anyway loses nothing when it is decoded smaller, up
    to the tolerance above (a decoded frame a little coarser than asked is taken as is).
    """
    best = 1
    for r in sorted(allowed):
        if 1.0 / r >= fraction_needed / SCALE_TOLERANCE[1]:
            best = r
    return best
