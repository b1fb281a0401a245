"""What the detectors are shown while training: augmented views and their targets.

:class:`TrainSet` holds the training images in memory (downscaled once) and samples views:
random crops and scale changes (vehicles at their ground resolution, fire and smoke around
1.25x the network input), colour jitter and blur, painted look-alikes for vehicles (tree shadows
and road dashes away from the labelled cars), town frames with nothing to find as negatives
for fire and smoke, and simulator frames (:func:`add_synthetic`).  :func:`make_targets` turns a
view's boxes into the heat map and edge distances the network learns.  Used by
:mod:`processing.detect.training`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np

from .datasets import CANONICAL_GSD_M, Sample

KINDS = {
    # kind: classes, network input (px), output stride
    "fire-smoke": (("fire", "smoke"), 320, 8),
    "aerial-cars": (("vehicle",), 320, 4),
}


# --------------------------------------------------------------------------- targets
def make_targets(boxes: np.ndarray, classes: list[int], num_classes: int, size: int,
                 stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heat map (C, h, w), edge distances (4, h, w) in input pixels and their weights (h, w)."""
    h = w = size // stride
    heat = np.zeros((num_classes, h, w), np.float32)
    dist = np.zeros((4, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    area_seen = np.full((h, w), np.inf, np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    px = (xs + 0.5) * stride
    py = (ys + 0.5) * stride
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) if len(boxes) else []
    for i in order:   # large first, so small boxes overwrite the regression where they overlap
        x0, y0, x1, y1 = boxes[i]
        bw, bh = x1 - x0, y1 - y0
        if bw < 2 or bh < 2:
            continue
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        sx, sy = max(bw / stride / 6.0, 0.6), max(bh / stride / 6.0, 0.6)
        g = np.exp(-((xs + 0.5 - cx) ** 2 / (2 * sx * sx) + (ys + 0.5 - cy) ** 2 / (2 * sy * sy)))
        heat[classes[i]] = np.maximum(heat[classes[i]], g)
        # exact peak at the centre cell
        ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
        heat[classes[i], iy, ix] = 1.0
        inside = (px > x0) & (px < x1) & (py > y0) & (py < y1) & (g > 0.2)
        inside[iy, ix] = True
        area = bw * bh
        m = inside & (area <= area_seen)
        area_seen[m] = area
        dist[0][m] = np.maximum(px[m] - x0, 1.0)
        dist[1][m] = np.maximum(py[m] - y0, 1.0)
        dist[2][m] = np.maximum(x1 - px[m], 1.0)
        dist[3][m] = np.maximum(y1 - py[m], 1.0)
        # each object's weights sum to log(area): a small fire counts about as much as a big
        # one, instead of in proportion to how many cells it covers
        weight[m] = g[m] / max(float(g[m].sum()), 1e-6) * math.log(area + 2.0)
    return heat, dist, weight


# --------------------------------------------------------------------------- augmentation
def colour_jitter(img: np.ndarray, rng: random.Random) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    hsv[..., 2] *= rng.uniform(0.6, 1.4)
    return cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


def random_view(img: np.ndarray, boxes: np.ndarray, size: int, scale: float,
                rng: random.Random, focus: bool, rot90: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A size x size view of ``img`` at ``scale`` (random crop/pad, flips, 90° turns).

    Returns the view, the boxes in it, and the indices of the boxes kept.
    """
    h, w = img.shape[:2]
    sw, sh = w * scale, h * scale
    if focus and len(boxes):
        b = boxes[rng.randrange(len(boxes))] * scale
        cx = (b[0] + b[2]) / 2 + rng.uniform(-size * 0.35, size * 0.35)
        cy = (b[1] + b[3]) / 2 + rng.uniform(-size * 0.35, size * 0.35)
    else:
        cx = rng.uniform(min(size / 2, sw / 2), max(sw - size / 2, sw / 2))
        cy = rng.uniform(min(size / 2, sh / 2), max(sh - size / 2, sh / 2))
    tx, ty = size / 2 - cx, size / 2 - cy
    m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
    view = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))
    bx = boxes * scale + np.array([tx, ty, tx, ty], np.float32)
    vis_area = (np.clip(bx[:, 2], 0, size) - np.clip(bx[:, 0], 0, size)).clip(0) * \
               (np.clip(bx[:, 3], 0, size) - np.clip(bx[:, 1], 0, size)).clip(0)
    full = ((bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])).clip(1e-6)
    keep = np.nonzero(vis_area / full > 0.45)[0]
    bx = bx[keep].clip(0, size)
    if rng.random() < 0.5:
        view = view[:, ::-1]
        bx = np.stack([size - bx[:, 2], bx[:, 1], size - bx[:, 0], bx[:, 3]], 1)
    if rot90:
        if rng.random() < 0.5:
            view = view[::-1]
            bx = np.stack([bx[:, 0], size - bx[:, 3], bx[:, 2], size - bx[:, 1]], 1)
        if rng.random() < 0.5:   # transpose = 90° turn combined with the flips above
            view = view.transpose(1, 0, 2)
            bx = bx[:, [1, 0, 3, 2]]
    return np.ascontiguousarray(view), bx.reshape(-1, 4).astype(np.float32), keep


def paint_lookalikes(view: np.ndarray, boxes: np.ndarray, rng: random.Random,
                     most: int = 4) -> np.ndarray:
    """Paint unlabelled vehicle look-alikes away from the labelled boxes: hard negatives.

    On real nadir frames the vehicle detector's false flags are soft tree shadows on asphalt
    and painted road markings (Brighton beach): car-sized dark blobs with blurred edges and
    thin light dashes.  Painted here at the canonical GSD, they teach the model that a dark or
    light patch of car size is not a car without a car's hard outline.
    """
    out = view.astype(np.float32)
    size = view.shape[0]
    grown = boxes + np.array([-6, -6, 6, 6], np.float32)
    for _ in range(rng.randint(1, most)):
        cx, cy = rng.uniform(0, size), rng.uniform(0, size)
        r = rng.uniform(10, 45)
        reach = 1.7 * r   # the farthest a shadow's ellipses or a dash reach from the centre
        if len(grown) and ((grown[:, 0] < cx + reach) & (grown[:, 2] > cx - reach) &
                           (grown[:, 1] < cy + reach) & (grown[:, 3] > cy - reach)).any():
            continue
        mask = np.zeros(view.shape[:2], np.float32)
        angle = rng.uniform(0, 180)
        if rng.random() < 0.7:   # a tree's shadow: dappled, soft, lit blue by the sky
            for _ in range(rng.randint(1, 4)):
                ax = (int(r * rng.uniform(0.4, 1.0)), int(r * rng.uniform(0.25, 0.7)))
                c = (int(cx + rng.uniform(-r, r) * 0.6), int(cy + rng.uniform(-r, r) * 0.6))
                cv2.ellipse(mask, c, ax, angle + rng.uniform(-40, 40), 0, 360, 1.0, -1)
            holes = cv2.GaussianBlur(np.random.default_rng(rng.getrandbits(32)).random(
                mask.shape, np.float32), (0, 0), rng.uniform(1.0, 2.5))
            z = (holes - holes.mean()) / max(float(holes.std()), 1e-6)
            mask *= (z > rng.uniform(-1.0, -0.2)).astype(np.float32)   # sun flecks
            k = rng.choice([3, 5])
            mask = cv2.GaussianBlur(mask, (k, k), 0) * rng.uniform(0.35, 0.65)
            tint = np.array([0.75, 1.0, 1.15], np.float32) * rng.uniform(0.9, 1.0)   # B, G, R
            out *= 1.0 - mask[..., None] * tint
        else:                    # a road marking: a thin light dash
            d = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))]) * r
            p0 = (int(cx - d[0]), int(cy - d[1]))
            p1 = (int(cx + d[0]), int(cy + d[1]))
            cv2.line(mask, p0, p1, 1.0, rng.choice([1, 2, 3]))
            mask = cv2.GaussianBlur(mask, (3, 3), 0) * rng.uniform(0.5, 0.9)
            out += (rng.uniform(200, 245) - out) * mask[..., None]
    return out.clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- data
class TrainSet:
    """Images held in memory (downscaled once) and an endless augmented batch sampler."""

    def __init__(self, samples: list[Sample], kind: str, seed: int = 0,
                 lookalikes: float = 0.0):
        self.kind = kind
        self.lookalikes = lookalikes   # share of vehicle views given painted look-alikes
        self.classes, self.size, self.stride = KINDS[kind]
        self.rng = random.Random(seed)
        self.items = []
        for s in samples:
            img = cv2.imread(str(s.path), cv2.IMREAD_COLOR)
            if img is None:
                continue
            if kind == "fire-smoke":
                # store at ~1.25x the network input; views then zoom in and out from there
                f = self.size * 1.25 / max(img.shape[:2])
            else:
                f = s.scale
            if f != 1.0:
                img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            cls = [self.classes.index(c) for c in s.classes]
            self.items.append((img, s.boxes * f, cls))
        self.extra: list[tuple[np.ndarray, np.ndarray, list[int]]] = []
        self.synthetic_share = 0.35
        self.negatives: list[tuple[np.ndarray, np.ndarray, list[int]]] = []
        self.negative_share = 0.0

    def add_negatives(self, paths, share: float) -> int:
        """Images with none of the classes anywhere (aerial views of towns for fire and
        smoke: roofs, concrete, glare), shown in ``share`` of the views with nothing to find."""
        for path in paths:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                continue
            f = self.size * 1.25 / max(img.shape[:2])
            img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            self.negatives.append((img, np.zeros((0, 4), np.float32), []))
        self.negative_share = share if self.negatives else 0.0
        return len(self.negatives)

    def add(self, img: np.ndarray, boxes: np.ndarray, classes: list[int]) -> None:
        self.extra.append((img, boxes, classes))

    def view(self):
        rng = self.rng
        # real images stay the majority however many synthetic ones are mixed in
        r = rng.random()
        syn = self.synthetic_share if self.extra else 0.0
        if r < syn:
            pool = self.extra
        elif r < syn + self.negative_share:
            pool = self.negatives
        else:
            pool = self.items
        img, boxes, cls = pool[rng.randrange(len(pool))]
        if self.kind == "fire-smoke":
            scale = self.size / max(img.shape[:2]) * rng.uniform(0.55, 1.5)
            view, bx, keep = random_view(img, boxes, self.size, scale, rng, focus=False, rot90=False)
        else:
            scale = rng.uniform(0.7, 1.4)
            view, bx, keep = random_view(img, boxes, self.size, scale, rng,
                                         focus=rng.random() < 0.75, rot90=True)
            if rng.random() < self.lookalikes:
                view = paint_lookalikes(view, bx, rng)
        if rng.random() < 0.8:
            view = colour_jitter(view, rng)
        if rng.random() < 0.15:
            k = rng.choice([3, 5])
            view = cv2.GaussianBlur(view, (k, k), 0)
        return view, bx, [cls[i] for i in keep]

    def batch(self, n: int):
        imgs, heats, dists, weights = [], [], [], []
        for _ in range(n):
            view, bx, cls = self.view()
            hm, ds, wt = make_targets(bx, cls, len(self.classes), self.size, self.stride)
            imgs.append(view.transpose(2, 0, 1))
            heats.append(hm)
            dists.append(ds)
            weights.append(wt)
        return (np.stack(imgs).astype(np.float32), np.stack(heats), np.stack(dists),
                np.stack(weights))


def add_synthetic(ds: TrainSet, folder: Path, seed: int = 0) -> int:
    """Mix in frames rendered by the simulator camera (:mod:`simulators.training_frames`).

    Vehicles: whole frames resized to the canonical ground sampling distance.  Fire and smoke:
    640 px crops around the planted objects (and one random crop per frame), stored like the
    real images so the views see small fires at the size the zoomed pass shows them.
    """
    from .synthetic import load_truth

    rng = random.Random(seed)
    n = 0
    for fr in load_truth(folder):
        img = cv2.imread(str(folder / fr["file"]), cv2.IMREAD_COLOR)
        if img is None:
            continue
        objs = [o for o in fr["objects"] if o["cls"] in ds.classes]
        boxes = np.array([o["box"] for o in objs], np.float32).reshape(-1, 4)
        cls = [ds.classes.index(o["cls"]) for o in objs]
        if ds.kind == "aerial-cars":
            f = fr["gsd_m"] / CANONICAL_GSD_M
            small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            ds.add(small, boxes * f, cls)
            n += 1
            continue
        H, W = img.shape[:2]
        c = 640
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
        centres.append((rng.uniform(0, W), rng.uniform(0, H)))
        for cx, cy in centres:
            x0 = int(np.clip(cx - c / 2 + rng.uniform(-200, 200), 0, max(0, W - c)))
            y0 = int(np.clip(cy - c / 2 + rng.uniform(-200, 200), 0, max(0, H - c)))
            crop = img[y0:y0 + c, x0:x0 + c]
            bx = boxes - np.array([x0, y0, x0, y0], np.float32)
            ch, cw = crop.shape[:2]
            vis = (np.clip(bx[:, 2], 0, cw) - np.clip(bx[:, 0], 0, cw)).clip(0) * \
                  (np.clip(bx[:, 3], 0, ch) - np.clip(bx[:, 1], 0, ch)).clip(0)
            full = ((bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])).clip(1e-6)
            keep = np.nonzero(vis / full > 0.5)[0]
            f = ds.size * 1.25 / max(ch, cw)
            crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            ds.add(crop, bx[keep].clip(0, [cw, ch, cw, ch]) * f, [cls[i] for i in keep])
            n += 1
    return n
