"""The learned detectors: fire, smoke and vehicles, through the project's own ONNX models.

The models are trained by :mod:`processing.detect.training` on the labelled data named in the
README and shipped in ``processing/detect/models/`` (``fire_smoke.onnx`` for fire and smoke,
``vehicle.onnx`` for vehicles), each with a JSON description beside it.

How a frame is looked at:

- fire and smoke: the whole frame fitted into the network input, plus (``zoom_levels``) a
  finer pass in overlapping tiles where the frame's long side is 2× the input, so a small
  fire in a large aerial frame is not shrunk away;
- vehicles: overlapping tiles at a fixed resolution.  The model was trained at about
  0.12 m per pixel (cars 35-40 px long); when the frame's ground sampling distance is known
  (``FrameInfo.gsd_m``) the frame is resized to that, otherwise ``scale`` is used.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from uav.errors import DetectorError

from .base import FIRE, SMOKE, VEHICLE, Detection, Detector, FrameInfo
from .datasets import CANONICAL_GSD_M
from .onnx_runner import OnnxModel

MODELS_DIR = Path(__file__).parent / "models"
FIRE_SMOKE_MODEL = MODELS_DIR / "fire_smoke.onnx"
VEHICLE_MODEL = MODELS_DIR / "vehicle.onnx"

_cache: dict[tuple[str, str], OnnxModel] = {}
_lock = threading.Lock()


def load_model(path: str | Path, backend: str = "auto") -> OnnxModel:
    """Load (once per process) an ONNX detector model."""
    key = (str(Path(path).resolve()), backend)
    with _lock:
        if key not in _cache:
            _cache[key] = OnnxModel(path, backend)
        return _cache[key]


class LearnedDetector(Detector):
    """An ONNX model reporting some of its classes above a score threshold.

    Parameters
    ----------
    model
        Path of the ``.onnx`` file (its JSON description beside it names the classes).
    threshold
        Smallest score reported.
    scale
        Resize factor before tiling (``None`` = fit the frame into one input).
    zoom_levels
        Extra passes where the frame's long side is k × the network input (k > 1), merged
        with the main pass; only used when ``scale`` is None.
    use_gsd
        Derive the scale from ``FrameInfo.gsd_m`` when known (vehicle model).
    backend
        ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
    """

    def __init__(self, model: str | Path, report: tuple[str, ...], threshold: float = 0.4,
                 scale: float | None = None, zoom_levels: tuple[float, ...] = (),
                 use_gsd: bool = False, overlap: float = 0.25, nms_iou: float = 0.5,
                 backend: str = "auto"):
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"detector {self.name!r}: threshold must be between 0 and 1, "
                                f"not {threshold}")
        if scale is not None and not 0.01 <= scale <= 8:
            raise DetectorError(f"detector {self.name!r}: scale {scale} is out of range "
                                "(0.01-8)")
        self.model = load_model(model, backend)
        missing = [c for c in report if c not in self.model.info.classes]
        if missing:
            raise DetectorError(f"model {model} does not know class(es) {', '.join(missing)}; "
                                f"it has {', '.join(self.model.info.classes)}")
        self.report = report
        self.threshold = threshold
        self.scale = scale
        self.zoom_levels = tuple(zoom_levels)
        self.use_gsd = use_gsd
        self.overlap = overlap
        self.nms_iou = nms_iou

    def raw(self, image: np.ndarray, info: FrameInfo | None = None) -> np.ndarray:
        """All detections above the threshold, (N, 6) array in full-frame pixels."""
        if image.ndim == 2 or image.dtype != np.uint8:
            raise DetectorError(f"detector {self.name!r} needs an 8-bit colour frame; got "
                                f"{image.dtype} {image.shape} (a thermal frame? use 'hotspot')")
        m = self.model
        scale = self.scale
        if self.use_gsd and info is not None and info.gsd_m:
            scale = float(np.clip(info.gsd_m / CANONICAL_GSD_M, 0.02, 4.0))
        passes = [scale]
        if scale is None:
            side = max(image.shape[:2])
            passes += [k * max(m.info.input_size) / side for k in self.zoom_levels
                       if k * max(m.info.input_size) < side]
        dets = [m.detect(image, s, self.overlap, self.threshold, self.nms_iou) for s in passes]
        d = np.concatenate(dets) if dets else np.zeros((0, 6), np.float32)
        if len(passes) > 1 and len(d):
            from .onnx_runner import nms

            keep = []
            for c in np.unique(d[:, 5]):
                idx = np.nonzero(d[:, 5] == c)[0]
                keep.extend(idx[nms(d[idx, :4], d[idx, 4], self.nms_iou)])
            d = d[sorted(keep, key=lambda i: -d[i, 4])]
        return d

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        names = self.model.info.classes
        out = []
        for x0, y0, x1, y1, s, c in self.raw(image, info):
            cls = names[int(c)]
            if cls in self.report:
                out.append(Detection(cls, float(s), float(x0), float(y0), float(x1), float(y1),
                                     self.name))
        return out


class FireDetector(LearnedDetector):
    """Flames in RGB frames (the project's fire/smoke model)."""

    name = "fire"
    classes = (FIRE,)

    def __init__(self, threshold: float = 0.4, model: str | Path = FIRE_SMOKE_MODEL,
                 zoom_levels: tuple[float, ...] = (2.0,), backend: str = "auto", **kw):
        super().__init__(model, (FIRE,), threshold, None, zoom_levels, backend=backend, **kw)


class SmokeDetector(LearnedDetector):
    """Smoke plumes in RGB frames (the project's fire/smoke model)."""

    name = "smoke"
    classes = (SMOKE,)

    # 0.5, not 0.4: sunlit sand and surf on the Brighton photos reach 0.45-0.53 as "smoke"
    def __init__(self, threshold: float = 0.5, model: str | Path = FIRE_SMOKE_MODEL,
                 zoom_levels: tuple[float, ...] = (2.0,), backend: str = "auto", **kw):
        super().__init__(model, (SMOKE,), threshold, None, zoom_levels, backend=backend, **kw)


class VehicleDetector(LearnedDetector):
    """Cars, trucks and buses in nadir and oblique aerial frames."""

    name = "vehicle"
    classes = (VEHICLE,)

    def __init__(self, threshold: float = 0.35, model: str | Path = VEHICLE_MODEL,
                 scale: float = 1.0, backend: str = "auto", **kw):
        super().__init__(model, (VEHICLE,), threshold, scale, (), use_gsd=True,
                         backend=backend, **kw)
