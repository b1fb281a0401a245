"""The learned detectors: fire, smoke and vehicles, through the project's own ONNX models.

The models are trained by :mod:`processing.detect.training` on the labelled data named in the
README and shipped in ``processing/detect/models/`` (``fire_smoke.onnx`` for fire and smoke,
``vehicle.onnx`` for vehicles), each with a JSON description beside it: classes, input size,
the ground sample distance it was trained at (``canonical_gsd_m``) and, once evaluated, each
class's operating threshold (``operating_thresholds``, chosen by
:mod:`processing.detect.evaluate` for a stated recall).  Any model in that form plugs in,
the project's TinyCenter models and YOLOX exports alike.

How a frame is looked at (:mod:`processing.detect.scales`):

- vehicles (``use_gsd``): the frame is resampled to the model's GSD from ``FrameInfo.gsd_m``
  and searched in one forward (the models take any input size; a resampled frame over
  ``onnx_runner.DYNAMIC_MAX_SIDE`` goes in tiles); without a GSD, at a few assumed footprint
  widths;
- fire and smoke: the whole frame fitted into the network input, plus (``zoom_levels``) a
  finer pass, never finer than the model's GSD when the frame's GSD is known.

Fire and smoke come from one model: the second detector reuses the first one's pass over the
same frame.  Smoke boxes that overlap are merged into one box per plume.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path

import numpy as np

from uav.errors import DetectorError

from .bands import is_oblique, resolvable, row_bands
from .base import FIRE, SMOKE, VEHICLE, Detection, Detector, FrameInfo
from .datasets import CANONICAL_GSD_M
from .onnx_runner import OnnxModel, nms
from .scales import SCALE_TOLERANCE, fallback_scales, gsd_scale
from .sensitivity import level_point

MODELS_DIR = Path(__file__).parent / "models"
FIRE_SMOKE_MODEL = MODELS_DIR / "fire_smoke.onnx"
VEHICLE_MODEL = MODELS_DIR / "vehicle.onnx"
MIN_FRAME_SIDE = 32    # px; smaller than this is not a camera frame
# An oblique frame's row band is searched with this much ground above and below it, so that a
# car or a bus on the band's edge is seen whole in one band (boxes are kept by their centre).
BAND_MARGIN_M = 8.0

_cache: dict[tuple[str, str], OnnxModel] = {}
_lock = threading.Lock()
# id(loaded model) -> (frame ref, pass key, threshold, detections, detector that ran it);
# models are loaded once per process and never freed, so their ids are stable
_last_pass = threading.local()


def load_model(path: str | Path, backend: str = "auto") -> OnnxModel:
    """Load (once per process) an ONNX detector model."""
    key = (str(Path(path).resolve()), backend)
    with _lock:
        if key not in _cache:
            _cache[key] = OnnxModel(path, backend)
        return _cache[key]


def overlap_groups(rects: np.ndarray) -> list[list[int]]:
    """Indices of rectangles (x0, y0, x1, y1) that overlap, joined transitively."""
    parent = list(range(len(rects)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            if (rects[i, 0] < rects[j, 2] and rects[j, 0] < rects[i, 2]
                    and rects[i, 1] < rects[j, 3] and rects[j, 1] < rects[i, 3]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(rects)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def merge_plumes(dets: np.ndarray, cls: int, gap: float = 0.1,
                 min_score: float = 0.0) -> np.ndarray:
    """Merge boxes of class ``cls`` that overlap (or nearly touch) into one box per plume.

    A smoke plume is one object: a model trained on small patches of it reports several boxes
    along it.  Boxes closer than ``gap`` x the smaller box's size are joined (transitively);
    the plume keeps the best score.  Only boxes scoring ``min_score`` or more are joined (weak
    boxes around a plume would otherwise stretch it when a low threshold is asked for).
    """
    idx = np.nonzero((dets[:, 5] == cls) & (dets[:, 4] >= min_score))[0]
    if len(idx) < 2:
        return dets
    b = dets[idx]
    pad = gap * np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:, None]
    grown = b[:, :4] + np.hstack([-pad, -pad, pad, pad])
    merged = [np.array([b[g, 0].min(), b[g, 1].min(), b[g, 2].max(), b[g, 3].max(),
                        b[g, 4].max(), cls], np.float32) for g in overlap_groups(grown)]
    rest = np.delete(dets, idx, axis=0)
    out = np.concatenate([rest, np.stack(merged)]) if len(rest) else np.stack(merged)
    return out[np.argsort(-out[:, 4], kind="stable")]


def zoom_regions(boxes: np.ndarray, scale: float, width: int, height: int,
                 context_px: int = 64, min_side_px: int = 160,
                 max_share: float = 0.5) -> list[tuple[int, int, int, int]] | None:
    """Frame windows (x0, y0, x1, y1 in full-frame pixels) a finer pass should look at.

    Each candidate box grows by ``context_px`` on every side (pixels of the finer pass, so
    the network sees what surrounds it) and to at least ``min_side_px``; windows that
    overlap are joined.  ``None`` when the windows would cover more than ``max_share`` of
    the frame: one pass over all of it is then cheaper than many small ones.
    """
    if not len(boxes):
        return []
    pad = context_px / scale
    half = min_side_px / scale / 2
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    hw = np.maximum((boxes[:, 2] - boxes[:, 0]) / 2 + pad, half)
    hh = np.maximum((boxes[:, 3] - boxes[:, 1]) / 2 + pad, half)
    wins = np.stack([np.maximum(cx - hw, 0), np.maximum(cy - hh, 0),
                     np.minimum(cx + hw, width), np.minimum(cy + hh, height)], 1)
    while True:   # a joined window may reach another: join until none overlap
        groups = overlap_groups(wins)
        if len(groups) == len(wins):
            break
        wins = np.array([[wins[g, 0].min(), wins[g, 1].min(), wins[g, 2].max(),
                          wins[g, 3].max()] for g in groups])
    if ((wins[:, 2] - wins[:, 0]) * (wins[:, 3] - wins[:, 1])).sum() > max_share * width * height:
        return None
    return [tuple(int(round(v)) for v in w) for w in wins]


class LearnedDetector(Detector):
    """An ONNX model reporting some of its classes above a score threshold.

    Parameters
    ----------
    model
        Path of the ``.onnx`` file (its JSON description beside it names the classes).
    report
        The model's classes this detector reports.
    threshold
        Smallest score reported; ``None`` takes the operating threshold stored in the model's
        JSON for the (first) reported class, else ``default_threshold``.
    scale
        Fixed resize factor before tiling, overriding the GSD (``None``: from the GSD when
        ``use_gsd``, else fit the frame into one input).
    zoom_levels
        Extra passes where the frame's long side is k × the network input (k > 1), merged
        with the main pass (fit mode only); never finer than the model's GSD when known.
    zoom_gates
        Per class: the extra passes look only around what the whole-frame pass scored at
        least this, not at the whole frame again (most survey frames show no fire at all,
        and the finer pass costs three whole-frame ones).  ``"stored"`` takes the gates in
        the model's JSON (``zoom_gates``, chosen by :mod:`processing.detect.zoom_gates`);
        ``None``, or a model without them, zooms the whole frame.
    use_gsd
        Resample the frame to the model's ``canonical_gsd_m`` from ``FrameInfo.gsd_m``.
    plumes
        Merge overlapping boxes of these classes into one per plume (smoke).
    backend
        ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
    sensitivity
        ``low``, ``normal`` or ``high``: the operating point stored in the model's JSON for
        that level (:mod:`processing.detect.sensitivity`), when no ``threshold`` is given.
    """

    def __init__(self, model: str | Path, report: tuple[str, ...], threshold: float | None = None,
                 scale: float | None = None, zoom_levels: tuple[float, ...] = (),
                 use_gsd: bool = False, overlap: float = 0.25, nms_iou: float = 0.5,
                 backend: str = "auto", default_threshold: float = 0.4,
                 plumes: tuple[str, ...] = (),
                 zoom_gates: dict[str, float] | str | None = "stored",
                 sensitivity: str = "normal"):
        self.model = load_model(model, backend)
        info = self.model.info
        missing = [c for c in report if c not in info.classes]
        if missing:
            raise DetectorError(f"model {model} does not know class(es) {', '.join(missing)}; "
                                f"it has {', '.join(info.classes)}")
        stored = (info.extra.get("operating_thresholds") or {}).get(report[0]) or {}
        operating = float(stored.get("threshold", default_threshold))
        # the level asked for, or None when a threshold was given outright (an evaluation)
        self.sensitivity = sensitivity if threshold is None else None
        if threshold is None:
            threshold = (operating if sensitivity == "normal" else
                         float(level_point(info.extra, report[0], sensitivity, str(model))["threshold"]))
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"detector {self.name!r}: threshold must be between 0 and 1, "
                                f"not {threshold}")
        if scale is not None and not 0.01 <= scale <= 8:
            raise DetectorError(f"detector {self.name!r}: scale {scale} is out of range "
                                "(0.01-8)")
        self.report = report
        self.threshold = threshold
        self.scale = scale
        self.zoom_levels = tuple(zoom_levels)
        if zoom_gates == "stored":
            zoom_gates = {c: float(v["gate"]) for c, v in
                          (info.extra.get("zoom_gates") or {}).items()} or None
        elif isinstance(zoom_gates, str):
            raise DetectorError(f"detector {self.name!r}: zoom gates must be per class "
                                f"scores, 'stored' or None, not {zoom_gates!r}")
        for c, g in (zoom_gates or {}).items():
            if c not in info.classes or not 0.0 < g < 1.0:
                raise DetectorError(f"detector {self.name!r}: zoom gate {c}={g}: the class "
                                    f"must be one of {', '.join(info.classes)} and the score "
                                    "between 0 and 1")
        # a class without a gate never asks for a closer look
        self.zoom_gates = (None if zoom_gates is None else
                           np.array([zoom_gates.get(c, 1.0) for c in info.classes], np.float32))
        self.use_gsd = use_gsd
        self.overlap = overlap
        self.nms_iou = nms_iou
        self.plumes = tuple(info.classes.index(c) for c in plumes if c in info.classes)
        self.plume_floor = max(threshold, operating)   # boxes merged as in production
        self.canonical_gsd_m = float(info.extra.get("canonical_gsd_m") or CANONICAL_GSD_M)
        # coarsest ground resolution at which the class is still flagged (None: no limit)
        limit = (info.extra.get("max_gsd_m") or {}).get(report[0])
        self.max_gsd_m = None if limit is None else float(limit)

    # ------------------------------------------------------------------ scales
    def passes(self, width: int, height: int, gsd_m: float | None) -> list[float | None]:
        """Resize factors the frame is searched at (``None``: fitted into one input)."""
        side = max(width, height)
        if self.scale is not None:
            return [self.scale]
        if self.use_gsd:
            if gsd_m:
                return [float(np.clip(gsd_scale(gsd_m, self.canonical_gsd_m), 0.02, 4.0))]
            return [s for s in fallback_scales(side, self.canonical_gsd_m) if s <= 4.0]
        net = max(self.model.info.input_size)
        out: list[float | None] = [None]
        for k in self.zoom_levels:
            target = k * net
            if gsd_m:   # finer than the model's GSD shows nothing more, at a cost
                target = min(target, side * gsd_m / self.canonical_gsd_m)
                wanted = net * 1.25 < target <= side * SCALE_TOLERANCE[1]
            else:       # without a GSD: only where the frame has finer detail to give
                wanted = target < side
            if wanted:
                out.append(gsd_scale(target / side, 1.0))
        return out

    def resolution_needed(self, width: int, height: int, gsd_m: float | None) -> float:
        """Fraction of the full-size frame's resolution this detector will look at."""
        if self.scale is not None:   # a fixed factor applies to whatever frame it is given
            return 1.0
        side = max(width, height)
        net = max(self.model.info.input_size)
        return min(1.0, max((net / side) if s is None else s
                            for s in self.passes(width, height, gsd_m)))

    # ------------------------------------------------------------------ running
    def _check(self, image, info: FrameInfo | None) -> np.ndarray:
        where = f" in {os.path.basename(info.path)}" if info is not None and info.path else ""
        if image.ndim == 2 or image.dtype != np.uint8:
            raise DetectorError(f"detector {self.name!r} needs an 8-bit colour frame{where}; got "
                                f"{image.dtype} {image.shape} (a thermal frame? use 'hotspot')")
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise DetectorError(f"detector {self.name!r} needs a 3-channel colour frame{where}; "
                                f"got shape {image.shape}")
        if min(image.shape[:2]) < MIN_FRAME_SIDE:
            raise DetectorError(f"frame{where} is {image.shape[1]}x{image.shape[0]} px: too "
                                f"small to search (at least {MIN_FRAME_SIDE} px a side)")
        return image[:, :, :3] if image.shape[2] == 4 else image

    def raw(self, image: np.ndarray, info: FrameInfo | None = None) -> np.ndarray:
        """All detections above the threshold, (N, 6) array in full-frame pixels."""
        image = self._check(image, info)
        m = self.model
        passes = self.passes(image.shape[1], image.shape[0], info.gsd_m if info else None)
        # an oblique frame is searched band by band at each band's own ground resolution
        row_gsd = (tuple(info.row_gsd) if info is not None and self.use_gsd and self.scale is None
                   else ())
        banded = is_oblique(row_gsd)
        key = (tuple(passes), self.overlap, self.nms_iou,
               None if self.zoom_gates is None else tuple(self.zoom_gates),
               row_gsd if banded else None)
        memo = getattr(_last_pass, "by_model", None)
        if memo is None:
            memo = _last_pass.by_model = {}
        last = memo.get(id(m))
        if (last is not None and last[0]() is image and last[1] == key
                and last[2] <= self.threshold and last[4] is not self):
            d = last[3]   # the other class of the same model on the same frame
            return d[d[:, 4] >= self.threshold]
        if banded:
            dets = self._banded(image, row_gsd, info.reduce)
        elif self.zoom_gates is not None and len(passes) > 1 and passes[0] is None:
            dets = self._gated(image, passes)
        else:
            dets = [m.detect(image, s, self.overlap, self.threshold, self.nms_iou)
                    for s in passes]
        d = np.concatenate(dets) if dets else np.zeros((0, 6), np.float32)
        if row_gsd:   # never where a pixel is too coarse for the class, or above the horizon
            d = d[resolvable(d, row_gsd, self.max_gsd_m)]
        if (len(passes) > 1 or banded) and len(d):
            keep = []
            for c in np.unique(d[:, 5]):
                idx = np.nonzero(d[:, 5] == c)[0]
                keep.extend(idx[nms(d[idx, :4], d[idx, 4], self.nms_iou)])
            d = d[sorted(keep, key=lambda i: -d[i, 4])]
        try:
            memo[id(m)] = (weakref.ref(image), key, self.threshold, d, self)
        except TypeError:   # an array view that cannot be weakly referenced: no sharing
            pass
        return d

    def _banded(self, image: np.ndarray, row_gsd, reduce: int = 1) -> list[np.ndarray]:
        """Each row band resampled to the model's GSD and searched on its own
        (:mod:`processing.detect.bands`); a box belongs to the band holding its centre.
        ``reduce``: camera pixels per pixel of ``image`` (the bands' GSD is the camera's)."""
        m = self.model
        H = image.shape[0]
        out = [np.zeros((0, 6), np.float32)]
        for b in row_bands(row_gsd, H, self.max_gsd_m):
            gsd = b.gsd_m * reduce   # metres per pixel of the image searched
            s = float(np.clip(gsd_scale(gsd, self.canonical_gsd_m), 0.02, 4.0))
            pad = int(np.ceil(BAND_MARGIN_M / gsd))
            y0, y1 = max(0, b.y0 - pad), min(H, b.y1 + pad)
            d = m.detect(image[y0:y1], s, self.overlap, self.threshold, self.nms_iou)
            d[:, [1, 3]] += y0
            cy = (d[:, 1] + d[:, 3]) / 2
            out.append(d[(cy >= b.y0) & (cy < b.y1)])
        return out

    def _gated(self, image: np.ndarray, passes: list[float | None]) -> list[np.ndarray]:
        """The whole-frame pass, then the finer passes only around its candidates."""
        m = self.model
        gates = self.zoom_gates
        first = m.detect(image, None, self.overlap, min(float(gates.min()), self.threshold),
                         self.nms_iou)
        out = [first[first[:, 4] >= self.threshold]]
        seeds = first[first[:, 4] >= gates[first[:, 5].astype(int)]]
        H, W = image.shape[:2]
        for s in passes[1:]:
            regions = zoom_regions(seeds[:, :4], s, W, H)
            if regions is None:   # candidates all over the frame: zoom all of it
                out.append(m.detect(image, s, self.overlap, self.threshold, self.nms_iou))
                continue
            for x0, y0, x1, y1 in regions:
                d = m.detect(image[y0:y1, x0:x1], s, self.overlap, self.threshold,
                             self.nms_iou)
                d[:, [0, 2]] += x0
                d[:, [1, 3]] += y0
                out.append(d)
        return out

    def detect(self, image: np.ndarray, info: FrameInfo | None = None) -> list[Detection]:
        names = self.model.info.classes
        d = self.raw(image, info)
        for c in self.plumes:
            d = merge_plumes(d, c, min_score=self.plume_floor)
        out = []
        for x0, y0, x1, y1, s, c in d:
            cls = names[int(c)]
            if cls in self.report:
                out.append(Detection(cls, float(s), float(x0), float(y0), float(x1), float(y1),
                                     self.name))
        return out


class FireDetector(LearnedDetector):
    """Flames in RGB frames (the project's fire/smoke model)."""

    name = "fire"
    classes = (FIRE,)

    def __init__(self, threshold: float | None = None, model: str | Path = FIRE_SMOKE_MODEL,
                 zoom_levels: tuple[float, ...] = (2.0,), backend: str = "auto", **kw):
        super().__init__(model, (FIRE,), threshold, None, zoom_levels, backend=backend,
                         default_threshold=0.4, **kw)


class SmokeDetector(LearnedDetector):
    """Smoke plumes in RGB frames (the project's fire/smoke model), one box per plume."""

    name = "smoke"
    classes = (SMOKE,)

    # 0.5, not 0.4: sunlit sand and surf on the Brighton photos reach 0.45-0.53 as "smoke"
    def __init__(self, threshold: float | None = None, model: str | Path = FIRE_SMOKE_MODEL,
                 zoom_levels: tuple[float, ...] = (2.0,), backend: str = "auto",
                 plumes: tuple[str, ...] = (SMOKE,), **kw):
        super().__init__(model, (SMOKE,), threshold, None, zoom_levels, backend=backend,
                         default_threshold=0.5, plumes=plumes, **kw)


class VehicleDetector(LearnedDetector):
    """Cars, trucks and buses in nadir and oblique aerial frames, at the model's GSD."""

    name = "vehicle"
    classes = (VEHICLE,)

    def __init__(self, threshold: float | None = None, model: str | Path = VEHICLE_MODEL,
                 scale: float | None = None, backend: str = "auto", **kw):
        super().__init__(model, (VEHICLE,), threshold, scale, (), use_gsd=True,
                         backend=backend, default_threshold=0.35, **kw)
