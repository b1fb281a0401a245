"""Hot spots in radiometric thermal frames.

A thermal frame reaches the detector as one channel of raw values.  How the values map to
temperature depends on the camera and the export; the options are:

``encoding="centikelvin"`` (default for integer frames)
    16-bit value = kelvin × 100, i.e. °C = v / 100 − 273.15.  This is the "radiometric TIFF"
    layout of FLIR cores with TLinear at 0.01 K resolution and of DJI thermal exports
    converted to 16-bit; 0 … 65535 spans −273 … +382 °C.
``encoding="decikelvin"``
    kelvin × 10 (FLIR TLinear at 0.1 K resolution): °C = v / 10 − 273.15.
``encoding="linear"``
    °C = v × ``gain`` + ``offset``, for any other linear export.
``encoding="celsius"`` (default for floating-point frames)
    the values are already °C.

A pixel is hot when it is above ``threshold_c`` (absolute), or, when ``delta_c`` is given
instead, more than ``delta_c`` above the frame's background (its median temperature).  Hot
pixels are grouped into connected components; each becomes a ``hotspot`` box with its peak and
mean temperature in ``extra`` and a score that rises from 0.5 at the threshold to ~1 at 30 °C
above it.
"""

from __future__ import annotations

import cv2
import numpy as np

from uav.errors import DetectorError

from .base import HOTSPOT, Detection, Detector, FrameInfo

ENCODINGS = ("centikelvin", "decikelvin", "linear", "celsius")


def to_celsius(raw: np.ndarray, encoding: str | None = None, gain: float = 1.0,
               offset: float = 0.0) -> np.ndarray:
    """Temperatures in °C (float32) from a raw thermal frame."""
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim != 2:
        raise DetectorError(f"a thermal frame must have one channel, got shape {raw.shape}; "
                            "is this an RGB photo rather than a radiometric export?")
    if encoding is None:
        encoding = "celsius" if np.issubdtype(raw.dtype, np.floating) else "centikelvin"
    if encoding not in ENCODINGS:
        raise DetectorError(f"unknown thermal encoding {encoding!r}; use one of "
                            f"{', '.join(ENCODINGS)}")
    if encoding != "celsius" and raw.dtype == np.uint8:
        raise DetectorError("this thermal frame is 8-bit: it holds a colour-mapped picture, "
                            "not temperatures; export the radiometric 16-bit TIFF instead")
    v = raw.astype(np.float32)
    if encoding == "centikelvin":
        return v / 100.0 - 273.15
    if encoding == "decikelvin":
        return v / 10.0 - 273.15
    if encoding == "linear":
        return v * gain + offset
    return v


class HotspotDetector(Detector):
    """Hot spots above an absolute or background-relative temperature threshold.

    Parameters
    ----------
    threshold_c
        Absolute threshold in °C (used when ``delta_c`` is None).
    delta_c
        Relative threshold: degrees above the frame's median temperature.
    encoding, gain, offset
        How raw values map to °C (see the module text).
    min_pixels
        Smallest component kept (single hot pixels are usually noise or dead pixels).
    """

    name = "hotspot"
    classes = (HOTSPOT,)
    wants_thermal = True

    def __init__(self, threshold_c: float = 60.0, delta_c: float | None = None,
                 encoding: str | None = None, gain: float = 1.0, offset: float = 0.0,
                 min_pixels: int = 4):
        if encoding is not None and encoding not in ENCODINGS:
            raise DetectorError(f"unknown thermal encoding {encoding!r}; use one of "
                                f"{', '.join(ENCODINGS)}")
        if delta_c is not None and delta_c <= 0:
            raise DetectorError(f"delta_c must be positive degrees above background, not {delta_c}")
        self.threshold_c = float(threshold_c)
        self.delta_c = None if delta_c is None else float(delta_c)
        self.encoding = encoding
        self.gain, self.offset = float(gain), float(offset)
        self.min_pixels = int(min_pixels)

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        t = to_celsius(image, self.encoding, self.gain, self.offset)
        background = float(np.median(t))
        thr = background + self.delta_c if self.delta_c is not None else self.threshold_c
        hot = (t > thr).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
        out = []
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area < self.min_pixels:
                continue
            vals = t[y:y + h, x:x + w][labels[y:y + h, x:x + w] == i]
            peak = float(vals.max())
            score = float(1.0 - 0.5 * np.exp(-(peak - thr) / 15.0))
            out.append(Detection(HOTSPOT, score, float(x), float(y), float(x + w), float(y + h),
                                 self.name, {"max_c": round(peak, 2),
                                             "mean_c": round(float(vals.mean()), 2),
                                             "background_c": round(background, 2),
                                             "threshold_c": round(thr, 2),
                                             "pixels": int(area)}))
        out.sort(key=lambda d: -d.score)
        return out
