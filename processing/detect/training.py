"""Train the project's tiny anchor-free detectors and export them to ONNX.

Run as (what made the shipped models; ``--synthetic`` mixes in simulator frames rendered by
:mod:`simulators.training_frames`, 35 % of the training views)::

    python -m simulators.training_frames --out /tmp/syn-train --scenes 30 --seed 1000
    python -m processing.detect.training --data ../shared/data/fire-smoke --kind fire-smoke \
        --out /tmp/fs1/fire_smoke.onnx --minutes 29 --threads 2 \
        --synthetic /tmp/syn-train --split source-train
    # the shipped fire/smoke model: 25 min more with aerial town frames as negatives
    python -m processing.detect.training --data ../shared/data/fire-smoke --kind fire-smoke \
        --out processing/detect/models/fire_smoke.onnx --minutes 25 --threads 2 --lr 1.5e-3 \
        --synthetic /tmp/syn-train --split source-train --init /tmp/fs1/fire_smoke.ckpt.pt \
        --negatives ../shared/data/aerial-cars
    python -m processing.detect.training --data ../shared/data/aerial-cars --kind aerial-cars \
        --out /tmp/v1/vehicle.onnx --minutes 20 --threads 2 \
        --synthetic /tmp/syn-train --split source-train --lookalikes 0.5
    # the shipped vehicle model: the light network from that one's backbone, in two runs
    python -m processing.detect.training --data ../shared/data/aerial-cars --threads 2 \
        --synthetic /tmp/syn-train --split source-train --lookalikes 0.5 --light \
        --init /tmp/v1/vehicle.ckpt.pt --out /tmp/vl/vehicle.onnx --minutes 16 --lr 2e-3
    python -m processing.detect.training --data ../shared/data/aerial-cars --threads 2 \
        --synthetic /tmp/syn-train --split source-train --lookalikes 0.5 --light \
        --init /tmp/vl/vehicle.ckpt.pt --out processing/detect/models/vehicle.onnx \
        --minutes 10 --lr 1e-3 --seed 1

The network ("TinyCenter") is a small convolutional backbone down to 1/16 with a two-step
feature-pyramid decoder back to 1/4 (vehicles) or 1/8 (fire, smoke), and a CenterNet/TTFNet
style head: one sigmoid heat map per class (peaks at object centres, Gaussian-shaped targets
sized with the box) and four distances to the box edges, regressed at every cell inside the
Gaussian and weighted by it (more positives per object than plain CenterNet, which matters with
only a few hundred images).  About 0.7 M parameters (2.8 MB as ONNX; 0.58 M with ``--light``
separable convolutions in the decoder and head); trains on one or two
CPU cores.

Training is bounded by wall time (``--minutes``) with a cosine learning rate over that time,
and checkpoints every couple of minutes next to ``--out`` so an interruption loses little; run
it again with the same arguments to resume.  PyTorch is needed only here (it is imported inside
the functions): the exported ONNX runs through :mod:`processing.detect.onnx_runner`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .datasets import (
    CANONICAL_GSD_M,
    Sample,
    aerial_cars_samples,
    fire_smoke_samples,
)

KINDS = {
    # kind: classes, network input (px), output stride
    "fire-smoke": (("fire", "smoke"), 320, 8),
    "aerial-cars": (("vehicle",), 320, 4),
}


# --------------------------------------------------------------------------- model
def build_model(num_classes: int, out_stride: int = 4, width: float = 1.5, light: bool = False):
    """The TinyCenter network (a ``torch.nn.Module``); outputs heat map and edge distances.

    ``light``: the decoder and head convolutions are depthwise-separable (a 3x3 per channel,
    then a 1x1 across channels).  They work at 1/8 and 1/4 of the input, where a full 3x3
    costs half the network's time; the backbone is the same, so it can start from a full
    model's weights (``--init``).
    """
    import torch
    from torch import nn

    def c(n):
        return int(round(n * width / 8)) * 8

    def cbr(ci, co, s=1):
        return nn.Sequential(nn.Conv2d(ci, co, 3, s, 1, bias=False), nn.BatchNorm2d(co),
                             nn.ReLU(inplace=True))

    def dec(ci, co):
        if not light:
            return cbr(ci, co)
        return nn.Sequential(nn.Conv2d(ci, ci, 3, 1, 1, groups=ci, bias=False),
                             nn.BatchNorm2d(ci), nn.ReLU(inplace=True),
                             nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co),
                             nn.ReLU(inplace=True))

    class TinyCenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.stride = out_stride
            self.s2 = cbr(3, c(16), 2)
            self.s4 = nn.Sequential(cbr(c(16), c(24), 2), cbr(c(24), c(24)))
            self.s8 = nn.Sequential(cbr(c(24), c(48), 2), cbr(c(48), c(48)))
            self.s16 = nn.Sequential(cbr(c(48), c(96), 2), cbr(c(96), c(96)), cbr(c(96), c(96)))
            self.lat8 = nn.Conv2d(c(48), c(96), 1)
            self.dec8 = dec(c(96), c(48))
            if out_stride == 4:
                self.lat4 = nn.Conv2d(c(24), c(48), 1)
                self.dec4 = dec(c(48), c(32))
                ch = c(32)
            else:
                ch = c(48)
            self.head = dec(ch, ch)
            self.hm = nn.Conv2d(ch, num_classes, 1)
            self.box = nn.Conv2d(ch, 4, 1)
            nn.init.constant_(self.hm.bias, -2.19)   # prior 0.1: stable focal loss start

        def forward(self, x):
            # Input: float 0..255 BGR, NCHW.  Normalising inside keeps the runtime simple.
            x = x / 255.0 - 0.5
            f4 = self.s4(self.s2(x))
            f8 = self.s8(f4)
            f16 = self.s16(f8)
            y = nn.functional.interpolate(f16, scale_factor=2.0, mode="nearest") + self.lat8(f8)
            y = self.dec8(y)
            if self.stride == 4:
                y = nn.functional.interpolate(y, scale_factor=2.0, mode="nearest") + self.lat4(f4)
                y = self.dec4(y)
            y = self.head(y)
            heat = torch.sigmoid(self.hm(y))
            # log-distances to the edges, in output cells; exported as input pixels
            dist = torch.exp(self.box(y).clamp(-4.0, 6.0)) * self.stride
            return heat, dist

    return TinyCenter()


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
        if self.extra and r < self.synthetic_share:
            pool = self.extra
        elif r < self.synthetic_share + self.negative_share:
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


# --------------------------------------------------------------------------- loss
def losses(heat, dist, t_heat, t_dist, t_w):
    """Focal loss on the heat map (CenterNet) and GIoU loss on the boxes, both normalised."""
    import torch

    p = heat.clamp(1e-4, 1 - 1e-4)
    pos = t_heat.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - t_heat) ** 4 * neg
    npos = pos.sum().clamp(min=1)
    l_heat = -(pos_loss.sum() + neg_loss.sum()) / npos

    w = t_w
    wsum = w.sum().clamp(min=1e-6)
    pl, pt, pr, pb = dist.unbind(1)
    tl, tt, tr, tb = t_dist.unbind(1)
    pa = (pl + pr) * (pt + pb)
    ta = (tl + tr) * (tt + tb)
    iw = torch.min(pl, tl) + torch.min(pr, tr)
    ih = torch.min(pt, tt) + torch.min(pb, tb)
    inter = iw * ih
    union = pa + ta - inter + 1e-6
    iou = inter / union
    cw = torch.max(pl, tl) + torch.max(pr, tr)
    ch = torch.max(pt, tt) + torch.max(pb, tb)
    enclose = cw * ch + 1e-6
    giou = iou - (enclose - union) / enclose
    l_box = ((1 - giou) * w).sum() / wsum
    return l_heat, l_box


# --------------------------------------------------------------------------- export
def export_onnx(model, kind: str, out: Path, meta: dict) -> None:
    """Write the model as ONNX (opset 17) with our metadata (classes, input size, stride)."""
    import torch

    classes, size, stride = KINDS[kind]
    model.eval()
    dummy = torch.zeros(1, 3, size, size)
    tmp = out.with_suffix(".tmp.onnx")
    # free height and width (fully convolutional): the runner searches a resampled frame in
    # one forward, not in overlapping tiles (the vehicle model trained with look-alikes finds
    # the same Brighton cars either way)
    free = {"image": {2: "height", 3: "width"}, "heatmap": {2: "h", 3: "w"},
            "boxes": {2: "h", 3: "w"}}
    torch.onnx.export(model, (dummy,), str(tmp), input_names=["image"],
                      output_names=["heatmap", "boxes"], opset_version=17,
                      dynamic_axes=free, dynamo=False)
    import onnx  # shipped with torch's exporter

    m = onnx.load(str(tmp))
    info = {"format": "amur-tinycenter-1", "classes": list(classes), "input_size": size,
            "stride": stride, "input": "BGR 0..255 NCHW float32", **meta}
    for k, v in info.items():
        p = m.metadata_props.add()
        p.key = k
        p.value = v if isinstance(v, str) else json.dumps(v)
    onnx.save(m, str(out))
    # the same metadata beside the model, for backends that cannot read ONNX metadata (OpenCV)
    out.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".data").unlink(missing_ok=True)


# --------------------------------------------------------------------------- main loop
def train(kind: str, data: Path, out: Path, minutes: float, threads: int, batch: int,
          lr: float, seed: int, synthetic: Path | None = None, split: str = "train",
          lookalikes: float = 0.0, light: bool = False, init: Path | None = None,
          negatives: Path | None = None, negative_share: float = 0.15) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    classes, size, stride = KINDS[kind]
    samples = fire_smoke_samples(data, split) if kind == "fire-smoke" else \
        aerial_cars_samples(data, split)
    ds = TrainSet(samples, kind, seed, lookalikes)
    n_syn = 0
    if synthetic is not None:
        n_syn = add_synthetic(ds, synthetic, seed)
    n_neg = 0
    if negatives is not None:
        # the aerial-cars source-train images: never the flights and mosaic parts held back
        n_neg = ds.add_negatives([s.path for s in aerial_cars_samples(negatives, "source-train")],
                                 negative_share)
    print(f"{kind}: {len(ds.items)} real training images, {n_syn} synthetic, "
          f"{n_neg} negatives", flush=True)

    model = build_model(len(classes), stride, light=light)
    if init is not None:
        copied = init_from(model, init)
        print(f"started from {init}: {copied} of {len(model.state_dict())} tensors", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    ckpt = out.with_suffix(".ckpt.pt")
    elapsed, step = 0.0, 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        elapsed, step = state["elapsed"], state["step"]
        ds.rng.seed(seed + step)
        print(f"resumed from {ckpt} at step {step}, {elapsed / 60:.1f} min", flush=True)
    budget = minutes * 60.0
    t0 = time.monotonic() - elapsed
    last_ckpt = time.monotonic()
    hist: list[tuple[float, float]] = []
    model.train()
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= budget:
            break
        frac = elapsed / budget
        warm = min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        imgs, th, td, tw = ds.batch(batch)
        heat, dist = model(torch.from_numpy(imgs))
        lh, lb = losses(heat, dist, torch.from_numpy(th), torch.from_numpy(td),
                        torch.from_numpy(tw))
        loss = lh + 2.0 * lb
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append((float(lh.detach()), float(lb.detach())))
        step += 1
        if step % 25 == 0:
            a = np.mean(hist[-25:], axis=0)
            print(f"step {step} {elapsed / 60:5.1f} min heat {a[0]:.3f} box {a[1]:.3f} "
                  f"lr {opt.param_groups[0]['lr']:.2e}", flush=True)
        if time.monotonic() - last_ckpt > 120:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "elapsed": time.monotonic() - t0, "step": step}, ckpt)
            last_ckpt = time.monotonic()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "elapsed": time.monotonic() - t0, "step": step}, ckpt)
    meta = {"trained_on": kind, "split": split, "lookalikes": lookalikes, "light": light,
            **({"started_from": init.name} if init is not None else {}),
            **({"negatives": f"{n_neg} aerial-cars source-train images, "
                             f"{negative_share:.0%} of views"} if n_neg else {}),
            "steps": step, "batch": batch,
            "minutes": round((time.monotonic() - t0) / 60.0, 1),
            "synthetic_images": n_syn, "canonical_gsd_m": CANONICAL_GSD_M}
    export_onnx(model, kind, out, meta)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) after {step} steps", flush=True)
    return meta


def init_from(model, checkpoint: Path) -> int:
    """Copy every tensor of a training checkpoint whose name and shape match; how many."""
    import torch

    try:
        state = torch.load(checkpoint, weights_only=False)["model"]
    except (OSError, KeyError, RuntimeError) as exc:
        raise SystemExit(f"--init {checkpoint}: not a training checkpoint ({exc})") from exc
    own = model.state_dict()
    same = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    return len(same)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m processing.detect.training", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="data set folder")
    ap.add_argument("--kind", choices=sorted(KINDS), help="data set kind (default: from --data)")
    ap.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    ap.add_argument("--minutes", type=float, default=18.0, help="training wall-time budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic", type=Path, help="folder of simulator frames with truth.json")
    ap.add_argument("--split", choices=("train", "source-train"), default="train",
                    help="images trained on: 'source-train' keeps whole videos, stills and "
                         "flights out for an honest 'source-test' score")
    ap.add_argument("--lookalikes", type=float, default=0.0, metavar="SHARE",
                    help="vehicles: share of training views given painted shadows and road "
                         "markings as hard negatives (0.5 made the shipped model)")
    ap.add_argument("--light", action="store_true",
                    help="depthwise-separable decoder and head (about half the run time)")
    ap.add_argument("--init", type=Path, metavar="CKPT",
                    help="start from the matching tensors of a training checkpoint "
                         "(the .ckpt.pt written beside an earlier --out)")
    ap.add_argument("--negatives", type=Path, metavar="AERIAL_CARS",
                    help="fire/smoke: the aerial-cars folder, whose source-train town views "
                         "(no fire, no smoke) are shown as hard negatives")
    ap.add_argument("--negative-share", type=float, default=0.15,
                    help="share of the views taken from --negatives (default 0.15)")
    a = ap.parse_args(argv)
    kind = a.kind or ("fire-smoke" if "fire" in a.data.name else "aerial-cars")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("training needs PyTorch (CPU is enough): pip install torch", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    train(kind, a.data, a.out, a.minutes, a.threads, a.batch, a.lr, a.seed, a.synthetic,
          a.split, a.lookalikes, a.light, a.init, a.negatives, a.negative_share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
