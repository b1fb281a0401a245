"""Run an ONNX detector on frames of any size: backend choice, tiling, decoding, NMS.

Two backends run the same ``.onnx`` file: onnxruntime and OpenCV's DNN module.  Both were
benchmarked here on the project's own models (``benchmarks/detection.py`` measures them again
next to each other); :data:`DEFAULT_BACKEND` is the faster one.

Two output formats are decoded:

- ``amur-tinycenter-1`` — the project's own models (:mod:`processing.detect.training`): a
  per-class sigmoid heat map (1, C, h, w) and distances to the four box edges (1, 4, h, w) in
  input pixels.  Class names, input size and stride come from the JSON file beside the model.
- ``yolox`` — YOLOX exports with a raw (1, N, 5 + C) output (grid offsets, log sizes,
  objectness, class scores) over strides 8, 16, 32.

Large frames are cut into overlapping tiles at the network's input size (after an optional
resize by ``scale``), each tile is detected, boxes are mapped back to full-frame pixels, boxes
whose centre falls in a tile's overlap margin are left to the neighbouring tile, and per-class
non-maximum suppression merges what remains.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from uav.errors import DetectorError

# Measured on the project's models (vehicle.onnx, 1x3x320x320, 1 thread), see the README:
# onnxruntime was the faster of the two here.
DEFAULT_BACKEND = "onnxruntime"
BACKENDS = ("onnxruntime", "opencv")
PAD_VALUE = 114
# A model exported with free height and width takes a whole resampled frame up to this side in
# one forward (padded to a multiple of 32), instead of overlapping fixed-size tiles.
DYNAMIC_MAX_SIDE = 1024


@dataclass
class ModelInfo:
    """What the runner needs to know about a model."""

    format: str                      # "amur-tinycenter-1" or "yolox"
    classes: list[str]
    input_size: tuple[int, int]      # (width, height)
    stride: int = 4
    extra: dict = field(default_factory=dict)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (boxes as x0, y0, x1, y1)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx1 - xx0).clip(0) * (yy1 - yy0).clip(0)
        union = areas[i] + areas[rest] - inter
        ov = inter / np.maximum(union, 1e-9)
        # a box mostly inside a better one is the same object cut by a tile edge
        contained = inter / np.maximum(np.minimum(areas[i], areas[rest]), 1e-9)
        order = rest[(ov <= iou) & (contained < 0.85)]
    return np.array(keep, dtype=int)


def tile_grid(width: int, height: int, tile_w: int, tile_h: int,
              overlap: float) -> list[tuple[int, int]]:
    """Top-left corners of overlapping tiles covering a width x height image.

    As few tiles as give at least ``overlap`` between neighbours, spread evenly (a 565 px wide
    image takes two 320 px tiles, not three).
    """
    def starts(n, t):
        if n <= t:
            return [0]
        step = max(1.0, t * (1.0 - overlap))
        # steps between the first and the last tile (10 % less overlap than asked is taken
        # rather than a whole extra row of tiles)
        k = max(1, int(np.ceil((n - t) / step - 0.1)))   # n just over t: still two tiles
        return sorted({round(i * (n - t) / k) for i in range(k + 1)})
    return [(x, y) for y in starts(height, tile_h) for x in starts(width, tile_w)]


def _margins(start: int, starts: list[int], size: int) -> tuple[float, float]:
    """The part of a tile (tile pixels) whose boxes it keeps: up to the middle of each overlap
    with its neighbours, so every box centre belongs to exactly one tile."""
    i = starts.index(start)
    lo = 0.0 if i == 0 else (starts[i - 1] + size - start) / 2
    hi = float(size) if i == len(starts) - 1 else (starts[i + 1] - start + size) / 2
    return lo, hi


def read_model_info(path: Path) -> ModelInfo | None:
    """The model's sidecar JSON (``model.json`` beside ``model.onnx``), if there is one."""
    side = path.with_suffix(".json")
    if not side.exists():
        return None
    try:
        d = json.loads(side.read_text())
        size = d["input_size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        return ModelInfo(d.get("format", "amur-tinycenter-1"), list(d["classes"]),
                         (int(size[0]), int(size[1])), int(d.get("stride", 4)), d)
    except (ValueError, KeyError, TypeError) as exc:
        raise DetectorError(f"model description {side} is unreadable or incomplete "
                            f"(needs classes, input_size): {exc}") from exc


class OnnxModel:
    """One ONNX detector, loaded once, run on whole frames with tiling.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    backend
        ``"onnxruntime"``, ``"opencv"`` or ``"auto"`` (:data:`DEFAULT_BACKEND`).
    info
        Model description; read from the JSON beside the model when not given, or guessed
        for YOLOX (then ``classes`` defaults to ``class0`` …).
    threads
        CPU threads for the backend (frames are already processed in parallel upstream).
    """

    dynamic = False   # input height and width free (one forward per resampled frame)
    channels = 3      # 1: a grey model (intensity in; thermal models fold their colours)

    def __init__(self, path: str | os.PathLike, backend: str = "auto",
                 info: ModelInfo | None = None, threads: int = 1):
        self.path = Path(path)
        if backend == "auto":
            backend = os.environ.get("AMUR_UAV_ONNX_BACKEND", DEFAULT_BACKEND)
        if backend not in BACKENDS:
            raise DetectorError(f"unknown ONNX backend {backend!r}; use one of "
                                f"{', '.join(BACKENDS)} or 'auto'")
        if not self.path.is_file():
            raise DetectorError(f"detector model file {self.path} not found; reinstall the "
                                "package or pass the path of a trained model")
        self.backend = backend
        self.info = info or read_model_info(self.path)
        try:
            if backend == "onnxruntime":
                import onnxruntime as ort

                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.inter_op_num_threads = 1
                so.log_severity_level = 3
                # The memory-pattern cache keeps a plan per input shape: with free-size models
                # (resampled frames, zoom windows) it grows with every new shape; off, the
                # forward is no slower (18.1 against 17.8 ms, vehicle at 512x288).
                so.enable_mem_pattern = False
                self._sess = ort.InferenceSession(str(self.path), so,
                                                  providers=["CPUExecutionProvider"])
                self._input = self._sess.get_inputs()[0].name
                in_shape = self._sess.get_inputs()[0].shape
                self.dynamic = len(in_shape) == 4 and not any(isinstance(v, int)
                                                              for v in in_shape[2:])
                if len(in_shape) == 4 and in_shape[1] == 1:
                    self.channels = 1
            else:
                self._net = cv2.dnn.readNetFromONNX(str(self.path))
                self._out_names = list(self._net.getUnconnectedOutLayersNames())
                in_shape = None
        except Exception as exc:   # both backends raise their own, unrelated types
            raise DetectorError(f"detector model {self.path} cannot be loaded as ONNX "
                                f"({backend}): {str(exc).strip()[:300]}") from exc
        fixed = (in_shape is not None and len(in_shape) == 4
                 and all(isinstance(v, int) for v in in_shape[2:]))
        if self.info is not None and fixed and (in_shape[3], in_shape[2]) != self.info.input_size:
            raise DetectorError(
                f"detector model {self.path} takes {in_shape[3]}x{in_shape[2]} input but "
                f"{self.path.with_suffix('.json').name} says {self.info.input_size[0]}x"
                f"{self.info.input_size[1]}: the description belongs to another model")
        if self.info is not None and int(self.info.extra.get("channels", 3)) == 1:
            self.channels = 1   # the OpenCV backend cannot tell by itself
        if self.info is None:
            if self.dynamic:
                raise DetectorError(f"detector model {self.path} takes any input size and has "
                                    f"no {self.path.with_suffix('.json').name} giving its "
                                    "classes and input size")
            self.info = self._guess_info(in_shape)

    # ----------------------------------------------------------------------- backend
    def _guess_info(self, in_shape) -> ModelInfo:
        if in_shape is None:
            import onnxruntime as ort

            in_shape = ort.InferenceSession(str(self.path),
                                            providers=["CPUExecutionProvider"]).get_inputs()[0].shape
        if len(in_shape) != 4 or not all(isinstance(v, int) for v in in_shape[2:]):
            raise DetectorError(f"detector model {self.path} has no fixed 1x3xHxW input and no "
                                f"{self.path.with_suffix('.json').name} describing it")
        h, w = int(in_shape[2]), int(in_shape[3])
        out = self.forward(np.zeros((1, 3, h, w), np.float32))
        if len(out) == 1 and out[0].ndim == 3 and out[0].shape[2] > 5:
            n = out[0].shape[2] - 5
            return ModelInfo("yolox", [f"class{i}" for i in range(n)], (w, h), 8)
        raise DetectorError(f"detector model {self.path}: output format not recognised and no "
                            f"{self.path.with_suffix('.json').name} describing it")

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """Raw network outputs for an NCHW float32 batch."""
        if self.backend == "onnxruntime":
            return self._sess.run(None, {self._input: batch})
        self._net.setInput(batch)
        return list(self._net.forward(self._out_names))

    # ----------------------------------------------------------------------- decoding
    def _decode(self, outputs: list[np.ndarray], score_thr: float,
                max_det: int = 100, size: tuple[int, int] | None = None) -> np.ndarray:
        """Detections (N, 6: x0, y0, x1, y1, score, class) in network-input pixels."""
        if self.info.format == "yolox":
            return self._decode_yolox(outputs[0][0], score_thr, size)
        heat, dist = outputs[0][0], outputs[1][0]
        stride = self.info.stride
        out = []
        kernel = np.ones((3, 3), np.uint8)
        for c in range(heat.shape[0]):
            h = heat[c]
            peaks = (h >= score_thr) & (h >= cv2.dilate(h, kernel))
            ys, xs = np.nonzero(peaks)
            if not len(ys):
                continue
            s = h[ys, xs]
            if len(s) > max_det:
                top = np.argsort(-s)[:max_det]
                ys, xs, s = ys[top], xs[top], s[top]
            px = (xs + 0.5) * stride
            py = (ys + 0.5) * stride
            d = dist[:, ys, xs]
            out.append(np.stack([px - d[0], py - d[1], px + d[2], py + d[3], s,
                                 np.full_like(s, c)], 1))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 6), np.float32)

    def _decode_yolox(self, raw: np.ndarray, score_thr: float,
                      size: tuple[int, int] | None = None) -> np.ndarray:
        w, h = size or self.info.input_size
        grids, strides = [], []
        for s in (8, 16, 32):
            gy, gx = np.mgrid[0:h // s, 0:w // s]
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
            strides.append(np.full((gx.size, 1), s))
        if sum(len(g) for g in grids) != raw.shape[0]:
            raise DetectorError(f"YOLOX model {self.path}: {raw.shape[0]} outputs do not match "
                                f"a {w}x{h} input over strides 8, 16, 32")
        grid = np.concatenate(grids).astype(np.float32)
        st = np.concatenate(strides).astype(np.float32)
        xy = (raw[:, :2] + grid) * st
        wh = np.exp(np.clip(raw[:, 2:4], -10, 10)) * st
        cls = raw[:, 5:].argmax(1)
        score = raw[:, 4] * raw[np.arange(len(raw)), 5 + cls]
        m = score >= score_thr
        xy, wh, score, cls = xy[m], wh[m], score[m], cls[m]
        return np.concatenate([xy - wh / 2, xy + wh / 2, score[:, None], cls[:, None]],
                              1).astype(np.float32)

    # ----------------------------------------------------------------------- frames
    def _prep(self, tile: np.ndarray) -> np.ndarray:
        if tile.ndim == 2:
            return tile[None, None].astype(np.float32)
        return tile.transpose(2, 0, 1)[None].astype(np.float32)

    def detect(self, image: np.ndarray, scale: float | None = None, overlap: float = 0.25,
               score_thr: float = 0.3, nms_iou: float = 0.5) -> np.ndarray:
        """Detections (N, 6: x0, y0, x1, y1, score, class index) in full-frame pixels.

        Parameters
        ----------
        image
            BGR ``uint8`` (H, W, 3); a single-channel frame is repeated to three channels
            (a grey model, :attr:`channels` 1, takes (H, W) and reads a colour frame's
            luminance).
        scale
            Resize factor applied before tiling; ``None`` fits the whole frame into one
            network input (letterboxed).  ``1.0`` tiles at full resolution.
        overlap
            Fraction of a tile shared with its neighbour; it should exceed the largest
            object's size over the tile size for objects to be seen whole in some tile.
        """
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if self.channels == 1 and image.ndim == 3 and image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif self.channels == 3 and image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.dtype != np.uint8 or image.ndim != (2 if self.channels == 1 else 3) \
                or (image.ndim == 3 and image.shape[2] != 3):
            kind = "grey" if self.channels == 1 else "colour"
            raise DetectorError(f"detector expects an 8-bit {kind} frame, got {image.dtype} "
                                f"array of shape {image.shape}")
        H, W = image.shape[:2]
        tw, th = self.info.input_size
        if scale is None:
            scale = min(tw / W, th / H)
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            work = cv2.resize(image, (max(1, round(W * scale)), max(1, round(H * scale))),
                              interpolation=interp)
        else:
            work = image
        sh, sw = work.shape[:2]
        max_det = 100
        if self.dynamic and max(sw, sh) <= DYNAMIC_MAX_SIDE:
            # one forward, whole frame; as many boxes per input area as a tile may give
            max_det = max(100, round(100 * sw * sh / (tw * th)))
            tw, th = -(-sw // 32) * 32, -(-sh // 32) * 32
        corners = tile_grid(sw, sh, tw, th, overlap)
        xs, ys = sorted({c[0] for c in corners}), sorted({c[1] for c in corners})
        all_dets = []
        for x, y in corners:
            tile = work[y:y + th, x:x + tw]
            if tile.shape[0] != th or tile.shape[1] != tw:
                tile = cv2.copyMakeBorder(tile, 0, th - tile.shape[0], 0, tw - tile.shape[1],
                                          cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
            d = self._decode(self.forward(self._prep(tile)), score_thr, max_det, (tw, th))
            if not len(d):
                continue
            # leave boxes centred in the overlap margin to the neighbour that sees them whole
            cx, cy = (d[:, 0] + d[:, 2]) / 2, (d[:, 1] + d[:, 3]) / 2
            m_l, m_r = _margins(x, xs, tw)
            m_t, m_b = _margins(y, ys, th)
            d = d[(cx >= m_l) & (cx < m_r) & (cy >= m_t) & (cy < m_b)]
            d[:, [0, 2]] += x
            d[:, [1, 3]] += y
            all_dets.append(d)
        if not all_dets:
            return np.zeros((0, 6), np.float32)
        d = np.concatenate(all_dets)
        d[:, :4] /= scale
        d[:, [0, 2]] = d[:, [0, 2]].clip(0, W)
        d[:, [1, 3]] = d[:, [1, 3]].clip(0, H)
        keep = []
        for c in np.unique(d[:, 5]):
            idx = np.nonzero(d[:, 5] == c)[0]
            keep.extend(idx[nms(d[idx, :4], d[idx, 4], nms_iou)])
        d = d[sorted(keep, key=lambda i: -d[i, 4])]
        return d
