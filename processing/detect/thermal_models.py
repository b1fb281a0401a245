"""People and vehicles in thermal frames, through the project's fine-tuned YOLOX-Nano.

The model (``models/thermal.onnx``, trained by :mod:`processing.detect.yolox_train` on the
HIT-UAV training recordings, see the README) takes the frame's intensity as one channel (a
model taking three gets it in all three: :class:`~processing.detect.onnx_runner.OnnxModel`
adapts).  What a thermal frame is, and how it becomes intensity (:func:`thermal_intensity`):

- a single-channel 8-bit JPEG/PNG (a thermal core's own rendering): as it is;
- a 16-bit (or float) radiometric TIFF: stretched per frame between its 0.5th and 99.8th
  percentiles of valid pixels, so one hot exhaust or the sun's glint cannot flatten the rest;
- the visible image of a DJI thermal JPEG, a false-colour palette: read as luminance (the
  usual palettes, white-hot and iron, grow brighter with temperature);
- any frame when the camera profile is a thermal one (``m3t-thermal``,
  ``flir-vue-pro-640-13mm``).

``person`` is thermal-only: a colour frame given to it straight is refused (the pipeline skips
it on colour frames, see :func:`processing.detect.registry.detectors_for_frame`).  On thermal
frames the ``vehicle`` detector hands over to ``thermal-vehicle`` (this module), which reports
the class ``vehicle`` too.  Both share one model pass per frame.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path

import cv2
import numpy as np

from uav.errors import DetectorError

from .base import VEHICLE, Detection, Detector, FrameInfo
from .sensitivity import level_point

PERSON = "person"
# A frame from far outside the trained heights is resized at most this much: 1.6 x 640 px is
# the largest side the model takes in one forward (onnx_runner.DYNAMIC_MAX_SIDE, 1024); past it
# the frame goes in tiles, and at 2x a 640x512 frame took 301 ms CPU against 40 ms at 1x
HEIGHT_FACTOR_RANGE = (0.25, 1.6)
MODELS_DIR = Path(__file__).parent / "models"
THERMAL_MODEL = MODELS_DIR / "thermal.onnx"
MIN_FRAME_SIDE = 32
LOW_PCT, HIGH_PCT = 0.5, 99.8

_memo = threading.local()


def _where(info: FrameInfo | None) -> str:
    return f" {os.path.basename(info.path)}" if info is not None and info.path else ""


def is_grey(image: np.ndarray) -> bool:
    """One channel, or three equal ones (a grey JPEG decoded as colour)."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return True
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    s = image[::7, ::7]
    return bool(np.array_equal(s[..., 0], s[..., 1]) and np.array_equal(s[..., 1], s[..., 2]))


def thermal_intensity(image: np.ndarray, info: FrameInfo | None = None) -> np.ndarray:
    """The frame as 8-bit intensity (H, W), per the rules in the module text.

    Raises
    ------
    DetectorError
        A colour frame not known to be thermal, a radiometric frame with no valid pixel, or a
        frame too small to search; the message names the frame.
    """
    where = _where(info)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if min(image.shape[:2]) < MIN_FRAME_SIDE:
        raise DetectorError(f"frame{where} is {image.shape[1]}x{image.shape[0]} px: too small "
                            f"to search (at least {MIN_FRAME_SIDE} px a side)")
    if image.ndim == 2 and image.dtype == np.uint8:
        return image
    if image.ndim == 2:
        v = image.astype(np.float32)
        valid = np.isfinite(v)
        if np.issubdtype(image.dtype, np.integer):
            valid &= (image > 0) & (image < np.iinfo(image.dtype).max)   # dead / saturated
        vals = v[valid]
        if vals.size < 16:
            raise DetectorError(f"thermal frame{where} has no valid pixels (all empty, "
                                "saturated or not-a-number): nothing to search")
        lo, hi = np.percentile(vals[:: max(1, vals.size // 200_000)], (LOW_PCT, HIGH_PCT))
        span = max(float(hi - lo), 1e-6)
        out = np.where(valid, (v - lo) * (255.0 / span), 0.0)
        return np.clip(out, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype == np.uint8:
        if is_grey(image):
            return image[..., 0]
        if info is not None and info.thermal:   # false-colour palette: luminance
            return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
        raise DetectorError(f"frame{where} is an 8-bit colour photo, not a thermal frame; the "
                            "person and thermal-vehicle detectors work on thermal frames only "
                            "(give --camera a thermal profile if this is a colour-mapped "
                            "thermal image)")
    raise DetectorError(f"frame{where}: cannot read a thermal image from a {image.dtype} array "
                        f"of shape {image.shape}")


class ThermalDetector(Detector):
    """One class of the thermal model, above a score threshold.

    Parameters
    ----------
    threshold
        Smallest score reported; ``None`` takes the operating threshold stored in the model's
        JSON for this class.
    model
        The ``.onnx`` file (its JSON beside it names the classes).
    scale
        Resize factor before the model (the model was trained around full 640x512 frames;
        ``None`` takes the JSON's ``run_scale`` or 1).
    sensitivity
        ``low``, ``normal`` or ``high``: the operating point stored for that level, when no
        ``threshold`` is given.
    """

    wants_thermal = True
    cls = PERSON

    def __init__(self, threshold: float | None = None, model: str | Path = THERMAL_MODEL,
                 scale: float | None = None, backend: str = "auto", nms_iou: float = 0.5,
                 sensitivity: str = "normal"):
        from .learned import load_model

        self.model = load_model(model, backend)
        info = self.model.info
        if self.cls not in info.classes:
            raise DetectorError(f"model {model} does not know class {self.cls!r}; it has "
                                f"{', '.join(info.classes)}")
        extra = info.extra
        self.sensitivity = sensitivity if threshold is None else None
        if threshold is None and sensitivity != "normal":
            threshold = float(level_point(extra, self.cls, sensitivity, str(model))["threshold"])
        if threshold is None:
            stored = (extra.get("operating_thresholds") or {}).get(self.cls) or {}
            threshold = float(stored.get("threshold", 0.3))
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"detector {self.name!r}: threshold must be between 0 and 1, "
                                f"not {threshold}")
        self.threshold = threshold
        self.scale = float(scale if scale is not None else extra.get("run_scale", 1.0))
        if not 0.1 <= self.scale <= 4:
            raise DetectorError(f"detector {self.name!r}: scale {self.scale} is out of range "
                                "(0.1-4)")
        self.nms_iou = nms_iou
        # coarsest ground resolution at which the class is still flagged (frames with a pose)
        limit = (extra.get("max_gsd_m") or {}).get(self.cls)
        self.max_gsd_m = None if limit is None else float(limit)
        # heights the training frames were flown at: a frame from outside them is resized so
        # its people look as they did at the nearest one (same kind of camera assumed)
        self.trained_heights_m = tuple(extra.get("trained_heights_m") or ())

    def height_factor(self, info: FrameInfo | None) -> float:
        """Resize factor bringing a frame flown at ``info.height_m`` to the nearest trained
        height (1 inside the trained heights, or when the height is unknown)."""
        h = None if info is None else info.height_m
        if not h or h <= 0 or len(self.trained_heights_m) != 2:
            return 1.0
        lo, hi = self.trained_heights_m
        f = h / lo if h < lo else h / hi if h > hi else 1.0
        return float(np.clip(f, *HEIGHT_FACTOR_RANGE))

    def resolution_needed(self, width: int, height: int, gsd_m: float | None) -> float:
        return min(1.0, self.scale)   # the height factor is known only once the frame is read

    def raw(self, image: np.ndarray, info: FrameInfo | None = None) -> np.ndarray:
        """(N, 6) detections of every class above this detector's threshold; one model pass
        per frame is shared by the detectors of the same model."""
        memo = getattr(_memo, "last", None)
        scale = self.scale * self.height_factor(info)
        key = (str(self.model.path), scale, self.nms_iou)
        if memo is not None and memo[0]() is image and memo[1] == key and memo[2] <= self.threshold:
            d = memo[3]
            return d[d[:, 4] >= self.threshold]
        grey = thermal_intensity(image, info)
        # low enough for every class's stored threshold, so the other class reuses this pass
        floor = min([self.threshold] + [float(v.get("threshold", 1.0)) for v in
                                        (self.model.info.extra.get("operating_thresholds")
                                         or {}).values()])
        d = self.model.detect(grey, scale, 0.25, floor, self.nms_iou)
        try:
            _memo.last = (weakref.ref(image), key, floor, d)
        except TypeError:
            pass
        return d[d[:, 4] >= self.threshold]

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        names = self.model.info.classes
        return [Detection(self.cls, float(s), float(x0), float(y0), float(x1), float(y1),
                          self.name)
                for x0, y0, x1, y1, s, c in self.raw(image, info) if names[int(c)] == self.cls]


class PersonDetector(ThermalDetector):
    """People in thermal frames (6-15 px wide at 60-130 m)."""

    name = "person"
    classes = (PERSON,)
    cls = PERSON


class ThermalVehicleDetector(ThermalDetector):
    """Cars and other vehicles in thermal frames (class ``vehicle``)."""

    name = "thermal-vehicle"
    classes = (VEHICLE,)
    cls = VEHICLE
