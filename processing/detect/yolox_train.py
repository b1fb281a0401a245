"""Fine-tune YOLOX-Nano (COCO weights) on YOLO-labelled frames and export it to ONNX.

Training only: imports torch (the ``train`` extra).  Two steps, so the data can travel to a
GPU machine as one compact file::

    # 1. pack the training frames (original JPEG bytes + pixel boxes) into one .npz
    python -m processing.detect.yolox_train pack --hit-uav ../shared/data/hit-uav \
        --split train --out .cache/train/thermal.npz
    python -m processing.detect.yolox_train pack --yolo ../shared/data/aerial-cars \
        --classes vehicle --map 0=vehicle,1=vehicle,2=vehicle,3=vehicle,4=vehicle \
        --out .cache/train/cars.npz
    # 2. train (CUDA when present, else CPU) for a bounded time and export
    python -m processing.detect.yolox_train train --pack .cache/train/thermal.npz \
        --out processing/detect/models/thermal.onnx --minutes 7 --size 640x512
    # 3. (thermal, shipped) a ReLU copy of that run, taught by it on 320x256 windows at the
    #    frames' own scale (CPU: 35 min on 2 cores), exported taking one grey channel
    python -m processing.detect.yolox_train train --pack .cache/train/thermal.npz \
        --out processing/detect/models/thermal.onnx --minutes 35 --size 320x256 --crop \
        --act relu --init RUN.pt --teacher RUN.pt --lr 6e-4 --grey
    python -m processing.detect.yolox_train export --weights processing/detect/models/thermal.pt \
        --out processing/detect/models/thermal.onnx --grey --size 640x512

Any class set works: ``pack --yolo DIR`` reads ``DIR/images`` and ``DIR/labels`` (or
``DIR/<split>/images`` with ``--split``), ``--map`` names each YOLO class index kept (others
are dropped) and ``--ignore`` lists indices whose boxes are regions to ignore.

Training: the network of :mod:`processing.detect.yolox_net`, every layer but the class
predictions from ``yolox_nano.onnx`` (class rows from COCO's person / car+bus+truck where the
names match).  Frames are randomly rescaled (``--scale-range``), cropped or padded to the
input size, flipped and jittered in brightness and contrast.  Assignment is YOLOX's SimOTA:
anchors whose centre lies in a box and within 2.5 strides of its centre are candidates, each
box takes its ``k`` cheapest (class BCE + 3 x -log IoU), ``k`` from the sum of its 10 best
IoUs.  Loss: objectness BCE over all anchors (anchors centred in ignore regions excluded),
IoU-aware class BCE (target = IoU) and 5 x (1 - IoU^2) over the assigned anchors.  AdamW,
warm-up then cosine over the wall-clock budget, an exponential moving average of the weights
is what gets exported.  ``--steps`` bounds a run by steps instead (tests).

Run-time cost, not only accuracy, shapes the recipe.  On one CPU core SiLU is a quarter of the
network's time (onnxruntime runs it as a pass of its own; ReLU is folded into each
convolution), so ``--act relu`` swaps it and ``--teacher`` distils the SiLU run's dense
outputs into the ReLU copy on two CPU cores in an hour (most, not all, of the SiLU run's
accuracy: see the README).  ``--grey`` folds the stem's three colour inputs into one (thermal
frames are the same intensity in all three): identical outputs, a third of the stem's work.  The
spatial pyramid pooling runs its 9 and 13 pools as cascaded 5-pools (identical numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .yolox_net import STRIDES, Exported, YoloxNano, grey_input, load_onnx_weights

PRETRAINED = Path(__file__).resolve().parents[2].parent / "shared/data/models/yolox_nano.onnx"
PAD = 114


# --------------------------------------------------------------------------- data
def pack(out: Path, items, classes: tuple[str, ...], source: str) -> dict:
    """Write (path, boxes, labels, ignore[, scale]) items as one .npz of the original file
    bytes; ``scale`` is the resize that brings the frame to the model's ground sample
    distance (1 when absent)."""
    blobs, boxes, labels, ignore, names, scales = [], [], [], [], [], []
    for path, b, lab, ign, *rest in items:
        scales.append(float(rest[0]) if rest else 1.0)
        blobs.append(np.frombuffer(Path(path).read_bytes(), np.uint8))
        boxes.append(np.asarray(b, np.float32).reshape(-1, 4))
        labels.append(np.asarray(lab, np.int64))
        ignore.append(np.asarray(ign, np.float32).reshape(-1, 4))
        names.append(Path(path).name)
    out.parent.mkdir(parents=True, exist_ok=True)
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]  # noqa: E731 (ragged)
    np.savez(out, blobs=obj(blobs), boxes=obj(boxes), labels=obj(labels), ignore=obj(ignore),
             names=np.array(names), classes=np.array(classes), source=np.array(source),
             scales=np.array(scales, np.float32))
    return {"frames": len(blobs), "boxes": int(sum(len(b) for b in boxes)),
            "bytes": out.stat().st_size}


def synthetic_items(folder: Path, classes: tuple[str, ...], most: int):
    """Simulator frames (``truth.json``) showing one of ``classes``, evenly spread over the
    set, each resampled to the 12 cm/px the aerial models work at."""
    from .datasets import CANONICAL_GSD_M
    from .synthetic import load_truth

    frames = [f for f in load_truth(folder) if any(o["cls"] in classes for o in f["objects"])]
    for f in frames[::max(1, -(-len(frames) // most))][:most]:
        objs = [o for o in f["objects"] if o["cls"] in classes]
        yield (Path(folder) / f["file"], [o["box"] for o in objs],
               [classes.index(o["cls"]) for o in objs], np.zeros((0, 4)),
               (f["gsd_m"] or CANONICAL_GSD_M) / CANONICAL_GSD_M)


def yolo_items(root: Path, split: str | None, mapping: dict[int, int], ignore: set[int]):
    base = root / split if split else root
    for img in sorted((base / "images").iterdir()):
        if img.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        im = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
        h, w = im.shape[:2]
        b, lab, ign = [], [], []
        lp = base / "labels" / (img.stem + ".txt")
        for line in (lp.read_text().splitlines() if lp.exists() else []):
            p = line.split()
            if len(p) < 5:
                continue
            c, (cx, cy, bw, bh) = int(p[0]), (float(v) for v in p[1:5])
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            if c in mapping:
                b.append(box)
                lab.append(mapping[c])
            elif c in ignore:
                ign.append(box)
        yield img, b, lab, ign


class PackData(torch.utils.data.Dataset):
    """Augmented (image, targets) pairs from a pack; images decoded once, kept in memory."""

    def __init__(self, path: Path, size: tuple[int, int], scale_range=(0.7, 1.4),
                 train: bool = True, crop: bool = False, focus: float = 0.0):
        z = np.load(path, allow_pickle=True)
        self.images = [cv2.imdecode(b, cv2.IMREAD_COLOR) for b in z["blobs"]]
        self.boxes, self.labels, self.ignore = list(z["boxes"]), list(z["labels"]), \
            list(z["ignore"])
        self.classes = tuple(str(c) for c in z["classes"])
        self.scales = z["scales"] if "scales" in z.files else np.ones(len(self.images))
        self.source = str(z["source"])
        self.size, self.scale_range, self.train = size, scale_range, train
        # crop: take a window of the frame at its own scale instead of fitting the frame
        # in (training on 320x256 windows costs a quarter of whole 640x512 frames per step)
        self.crop = crop
        self.focus = focus   # share of windows centred near a labelled object (with crop)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        rng = np.random.default_rng()
        img, boxes, labels, ign = self.images[i], self.boxes[i].copy(), self.labels[i], \
            self.ignore[i].copy()
        W, H = self.size
        h, w = img.shape[:2]
        s = float(self.scales[i]) if self.crop else min(W / w, H / h)
        if self.train:
            s *= math.exp(rng.uniform(*np.log(self.scale_range)))
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        ox = rng.integers(min(0, W - nw), max(0, W - nw) + 1) if self.train else 0
        oy = rng.integers(min(0, H - nh), max(0, H - nh) + 1) if self.train else 0
        if self.train and self.crop and len(boxes) and rng.random() < self.focus:
            # a window around a labelled object: sparse fires in large frames are otherwise
            # almost never in view
            b = boxes[rng.integers(len(boxes))] * s
            ox = int(np.clip(W / 2 - (b[0] + b[2]) / 2 + rng.uniform(-0.35, 0.35) * W,
                             min(0, W - nw), max(0, W - nw)))
            oy = int(np.clip(H / 2 - (b[1] + b[3]) / 2 + rng.uniform(-0.35, 0.35) * H,
                             min(0, H - nh), max(0, H - nh)))
        M = np.array([[s, 0, ox], [0, s, oy]], np.float32)
        out = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LINEAR,
                             borderValue=(PAD, PAD, PAD))
        boxes = boxes * s + [ox, oy, ox, oy]
        ign = ign * s + [ox, oy, ox, oy]
        if self.train:
            if rng.random() < 0.5:
                out = out[:, ::-1]
                boxes[:, [0, 2]] = W - boxes[:, [2, 0]]
                ign[:, [0, 2]] = W - ign[:, [2, 0]]
            if rng.random() < 0.5:
                out = out[::-1]
                boxes[:, [1, 3]] = H - boxes[:, [3, 1]]
                ign[:, [1, 3]] = H - ign[:, [3, 1]]
            a, b = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
            out = np.clip(out.astype(np.float32) * a + b, 0, 255)
        vis = boxes.copy()
        vis[:, [0, 2]] = vis[:, [0, 2]].clip(0, W)
        vis[:, [1, 3]] = vis[:, [1, 3]].clip(0, H)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        varea = (vis[:, 2] - vis[:, 0]).clip(0) * (vis[:, 3] - vis[:, 1]).clip(0)
        keep = (varea > 0.4 * np.maximum(area, 1e-6)) & ((vis[:, 2] - vis[:, 0]) >= 2) & \
            ((vis[:, 3] - vis[:, 1]) >= 2)
        # targets: (N, 6) class, x0, y0, x1, y1, is_ignore
        t = np.concatenate([np.c_[labels[keep], vis[keep], np.zeros(keep.sum())],
                            np.c_[np.full(len(ign), -1), ign, np.ones(len(ign))]]) \
            .astype(np.float32).reshape(-1, 6)
        x = torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1), np.float32))
        return x, torch.from_numpy(t)


def collate(batch):
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


# --------------------------------------------------------------------------- loss
def grids(outs, device):
    g, s = [], []
    for o, st in zip(outs, STRIDES, strict=True):
        h, w = o.shape[2:]
        yy, xx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device),
                                indexing="ij")
        g.append(torch.stack([xx, yy], -1).reshape(-1, 2).float())
        s.append(torch.full((h * w,), float(st), device=device))
    return torch.cat(g), torch.cat(s)


def box_iou(a, b):
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    aa = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    ab = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (aa[:, None] + ab[None] - inter + 1e-9)


def simota(pred_box, cls_logit, obj_logit, centres, strides, gt_box, gt_cls, nc):
    """Anchor index and matched box per foreground anchor (SimOTA, see the module text)."""
    cx, cy = centres[:, 0], centres[:, 1]
    in_box = ((cx[None] > gt_box[:, None, 0]) & (cx[None] < gt_box[:, None, 2])
              & (cy[None] > gt_box[:, None, 1]) & (cy[None] < gt_box[:, None, 3]))
    gcx = (gt_box[:, 0] + gt_box[:, 2]) / 2
    gcy = (gt_box[:, 1] + gt_box[:, 3]) / 2
    r = 2.5 * strides[None]
    in_ctr = ((cx[None] - gcx[:, None]).abs() < r) & ((cy[None] - gcy[:, None]).abs() < r)
    cand = (in_box | in_ctr).any(0)
    if not cand.any():
        return None
    idx = cand.nonzero()[:, 0]
    both = (in_box & in_ctr)[:, idx]
    ious = box_iou(gt_box, pred_box[idx])
    with torch.autocast(device_type=pred_box.device.type, enabled=False):
        p = (cls_logit[idx].float().sigmoid() * obj_logit[idx, None].float().sigmoid()).sqrt()
        tgt = F.one_hot(gt_cls.long(), nc).float()
        cost_cls = F.binary_cross_entropy(p[None].expand(len(gt_box), -1, -1).clamp(1e-6, 1 - 1e-6),
                                          tgt[:, None].expand(-1, len(idx), -1),
                                          reduction="none").sum(-1)
    cost = cost_cls + 3.0 * -torch.log(ious + 1e-8) + 1e5 * (~both)
    k = torch.clamp(ious.topk(min(10, len(idx)), 1).values.sum(1).int(), min=1)
    match = torch.zeros_like(cost, dtype=torch.bool)
    for g in range(len(gt_box)):
        match[g, cost[g].topk(int(k[g]), largest=False).indices] = True
    multi = match.sum(0) > 1
    if multi.any():
        best = cost[:, multi].argmin(0)
        match[:, multi] = False
        match[best, multi.nonzero()[:, 0]] = True
    fg = match.any(0)
    gi = match[:, fg].float().argmax(0)
    return idx[fg], gi, ious[gi, fg.nonzero()[:, 0]]


def loss_fn(outs, targets, nc):
    device = outs[0].device
    B = outs[0].shape[0]
    flat = torch.cat([o.flatten(2) for o in outs], 2).permute(0, 2, 1)   # B, N, 5 + C
    grid, strides = grids(outs, device)
    centres = (grid + 0.5) * strides[:, None]
    xy = (flat[..., :2] + grid) * strides[:, None]
    wh = torch.exp(flat[..., 2:4].clamp(-10, 10)) * strides[:, None]
    pbox = torch.cat([xy - wh / 2, xy + wh / 2], -1)
    obj_t = torch.zeros(B, flat.shape[1], device=device)
    obj_w = torch.ones(B, flat.shape[1], device=device)
    cls_p, cls_t, box_p, box_t = [], [], [], []
    for b in range(B):
        t = targets[b].to(device)
        ign = t[t[:, 5] > 0, 1:5]
        gt = t[t[:, 5] == 0]
        if len(ign):
            inside = ((centres[None, :, 0] > ign[:, None, 0]) & (centres[None, :, 0] < ign[:, None, 2])
                      & (centres[None, :, 1] > ign[:, None, 1])
                      & (centres[None, :, 1] < ign[:, None, 3])).any(0)
            obj_w[b, inside] = 0.0
        if not len(gt):
            continue
        with torch.no_grad():
            m = simota(pbox[b].detach(), flat[b, :, 5:].detach(), flat[b, :, 4].detach(),
                       centres, strides, gt[:, 1:5], gt[:, 0], nc)
        if m is None:
            continue
        a, gi, iou = m
        obj_t[b, a] = 1.0
        obj_w[b, a] = 1.0
        cls_p.append(flat[b, a, 5:])
        cls_t.append(F.one_hot(gt[gi, 0].long(), nc).float() * iou[:, None].clamp(min=0.05))
        box_p.append(pbox[b, a])
        box_t.append(gt[gi, 1:5])
    n_fg = max(sum(len(x) for x in box_p), 1)
    l_obj = (F.binary_cross_entropy_with_logits(flat[..., 4].float(), obj_t, reduction="none")
             * obj_w).sum() / n_fg
    if box_p:
        bp, bt = torch.cat(box_p).float(), torch.cat(box_t)
        iou = torch.diagonal(box_iou(bp, bt)) if len(bp) < 4096 else _pair_iou(bp, bt)
        l_iou = 5.0 * (1 - iou ** 2).sum() / n_fg
        l_cls = F.binary_cross_entropy_with_logits(torch.cat(cls_p).float(), torch.cat(cls_t),
                                                   reduction="sum") / n_fg
    else:
        l_iou = l_cls = flat.sum() * 0.0
    return l_obj + l_iou + l_cls, {"obj": l_obj.item(), "iou": float(l_iou.detach()),
                                   "cls": float(l_cls.detach()), "fg": n_fg}


def _pair_iou(a, b):
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / ((a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
                    + (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1) - inter + 1e-9)


# --------------------------------------------------------------------------- export
def export_onnx(net: YoloxNano, out: Path, classes: tuple[str, ...], size: tuple[int, int],
                meta: dict, grey: bool = False) -> Path:
    """ONNX (free height and width, sides a multiple of 32) and its JSON description;
    ``grey``: one intensity channel in (see :func:`grey_input`)."""
    net = net.cpu().eval()
    if grey:
        net = grey_input(net)
    W, H = size
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 1 if grey else 3, H, W)
    kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(Exported(net), dummy, str(out), input_names=["images"],
                      output_names=["output"], opset_version=13,
                      dynamic_axes={"images": {2: "height", 3: "width"}}, **kw)
    side = {"format": "yolox", "classes": list(classes), "input_size": [W, H], "stride": 8,
            "input": ("intensity 0..255, 1 channel, NCHW float32" if grey else
                      "BGR 0..255 NCHW float32 (a thermal frame: its intensity in all three)"),
            "channels": 1 if grey else 3, **meta, "activation": net.act}
    out.with_suffix(".json").write_text(json.dumps(side, indent=1) + "\n")
    return out


# --------------------------------------------------------------------------- train
def train(pack_path: Path, out: Path, size=(640, 512), minutes: float = 5.0,
          steps: int | None = None, batch: int = 16, lr: float = 2e-3, workers: int = 0,
          scale_range=(0.7, 1.4), pretrained: Path = PRETRAINED, log=print,
          log_every: int = 50, init: Path | None = None, act: str = "silu",
          teacher: Path | None = None, crop: bool = False, grey: bool = False,
          focus: float = 0.0) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = PackData(pack_path, size, scale_range, crop=crop, focus=focus)
    nc = len(data.classes)
    net = YoloxNano(nc, act)
    if init is not None:   # go on from an earlier run of ours (same classes)
        net.load_state_dict(torch.load(init, map_location="cpu"))
        loaded = {"continued_from": Path(init).name}
    else:
        loaded = load_onnx_weights(net, pretrained, data.classes)
    tnet = None
    if teacher is not None:   # distil: follow an earlier model's dense outputs too
        tnet = YoloxNano(nc, _run_meta(teacher).get("activation", "silu"))
        tnet.load_state_dict(torch.load(teacher, map_location="cpu"))
        tnet.to(device).eval()
        for p in tnet.parameters():
            p.requires_grad_(False)
        loaded["distilled_from"] = Path(teacher).name
    net.to(device).train()
    ema = YoloxNano(nc, act).to(device).eval()
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    decay, no_decay = [], []
    for n, p in net.named_parameters():
        (no_decay if n.endswith("bias") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, collate_fn=collate,
                                         persistent_workers=workers > 0)
    log(f"device {device}, {len(data)} frames, classes {data.classes}, pretrained {loaded}")
    t0, step, budget = time.time(), 0, minutes * 60
    warm = 100 if steps is None else max(1, steps // 10)
    done = False
    while not done:
        for x, t in loader:
            frac = (step / steps) if steps else (time.time() - t0) / budget
            if frac >= 1.0:
                done = True
                break
            f = min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * frac))
            for g in opt.param_groups:
                g["lr"] = lr * max(f, 0.02)
            x = x.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                enabled=device.type == "cuda"):
                outs = net(x)
            loss, parts = loss_fn([o.float() for o in outs], t, nc)
            if tnet is not None:
                with torch.no_grad():
                    t_outs = tnet(x)
                kd = distil_loss([o.float() for o in outs], [o.float() for o in t_outs])
                loss = loss + kd
                parts["kd"] = float(kd.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            d = 0.9998 * (1 - math.exp(-step / 300.0))
            with torch.no_grad():
                for pe, pn in zip(ema.parameters(), net.parameters(), strict=True):
                    pe.mul_(d).add_(pn.detach(), alpha=1 - d)
            step += 1
            if step % log_every == 0 or step == 1:
                log(f"step {step} {time.time() - t0:.0f}s loss {loss.item():.3f} "
                    + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in parts.items()))
    torch.save(ema.state_dict(), out.with_suffix(".pt"))
    meta = {"trained_on": data.source, "frames": len(data), "steps": step, "batch": batch,
            "minutes": round((time.time() - t0) / 60, 1), "device": str(device),
            "activation": act, "windows": f"{size[0]}x{size[1]} at the frame's own scale"
            if crop else "whole frames fitted in", "focus": focus,
            "pretrained": "yolox_nano.onnx (COCO, Apache-2.0)", **loaded,
            "scale_range": list(scale_range)}
    try:
        export_onnx(ema, out, data.classes, size, meta, grey=grey)
    except Exception as exc:   # the weights are saved; export can be redone elsewhere
        log(f"ONNX export failed ({type(exc).__name__}: {exc}); weights in "
            f"{out.with_suffix('.pt')}")
    out.with_suffix(".train.json").write_text(json.dumps(
        {**meta, "classes": list(data.classes), "size": list(size)}, indent=1))
    return meta


def distil_loss(student, teacher):
    """Dense agreement with a teacher's raw maps: objectness and classes as soft targets
    everywhere, box offsets where the teacher sees something (its objectness as weight).
    Denser than the detection loss, so a changed network (another activation) relearns
    in a fraction of the steps."""
    s = torch.cat([o.flatten(2) for o in student], 2)
    t = torch.cat([o.flatten(2) for o in teacher], 2)
    w = t[:, 4:5].sigmoid()
    norm = w.sum() + 1.0
    l_soft = F.binary_cross_entropy_with_logits(s[:, 4:], t[:, 4:].sigmoid(),
                                                reduction="sum") / norm
    l_box = (w * (s[:, :4] - t[:, :4]).abs()).sum() / norm
    return l_soft + l_box


def _run_meta(weights: Path) -> dict:
    side = Path(weights).with_suffix(".train.json")
    return json.loads(side.read_text()) if side.is_file() else {}


def export_from_weights(weights: Path, out: Path, classes, size, meta: dict,
                        grey: bool = False) -> Path:
    net = YoloxNano(len(classes), meta.get("activation", "silu"))
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    return export_onnx(net, out, tuple(classes), size, meta, grey=grey)


def _image_side(path: Path) -> int:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return max(img.shape[:2]) if img is not None else 0


def _size(s: str) -> tuple[int, int]:
    w, h = (int(v) for v in s.lower().split("x"))
    if w % 32 or h % 32:
        raise argparse.ArgumentTypeError("width and height must be multiples of 32")
    return w, h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m processing.detect.yolox_train",
                                 description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="pack labelled frames into one .npz")
    p.add_argument("--hit-uav", type=Path, help="HIT-UAV folder (split by recording)")
    p.add_argument("--yolo", type=Path, help="a folder with images/ and labels/")
    p.add_argument("--aerial-cars", type=Path,
                   help="the aerial-cars folder: class vehicle, each frame at 12 cm/px")
    p.add_argument("--fire-smoke", type=Path, help="the fire-smoke folder: classes fire, smoke")
    p.add_argument("--synthetic", type=Path, default=None,
                   help="also simulator frames (truth.json) of the same classes, at their GSD")
    p.add_argument("--synthetic-max", type=int, default=40,
                   help="at most this many of them (real frames stay the majority)")
    p.add_argument("--split", default=None, help="train/val/test (HIT-UAV) or a sub-folder")
    p.add_argument("--classes", default="person,vehicle")
    p.add_argument("--map", default="", help="YOLO index=class,... (with --yolo)")
    p.add_argument("--ignore", default="", help="YOLO indices of regions to ignore")
    p.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train", help="fine-tune and export")
    t.add_argument("--pack", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--size", type=_size, default=(640, 512))
    t.add_argument("--minutes", type=float, default=5.0)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--workers", type=int, default=0)
    t.add_argument("--scale-range", default="0.7,1.4")
    t.add_argument("--pretrained", type=Path, default=PRETRAINED)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--init", type=Path, default=None,
                   help="start from these weights (.pt of an earlier run) instead of COCO")
    t.add_argument("--act", choices=("silu", "relu"), default="silu",
                   help="activation (relu: fused into each convolution at run time)")
    t.add_argument("--teacher", type=Path, default=None,
                   help="also follow this earlier run's outputs (.pt), e.g. after --act")
    t.add_argument("--crop", action="store_true",
                   help="train on --size windows at the frame's own scale")
    t.add_argument("--focus", type=float, default=0.0,
                   help="with --crop: share of windows centred near a labelled object")
    t.add_argument("--grey", action="store_true",
                   help="export taking one intensity channel (thermal models)")
    e = sub.add_parser("export", help="ONNX + JSON from saved weights (.pt)")
    e.add_argument("--weights", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--grey", action="store_true")
    e.add_argument("--size", type=_size, default=None, help="input size to describe")
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        classes = tuple(c.strip() for c in a.classes.split(","))
        if a.hit_uav:
            from .hituav import THERMAL_CLASSES, hituav_samples

            classes = THERMAL_CLASSES
            items = ((s.path, s.boxes, s.labels, s.ignore)
                     for s in hituav_samples(a.hit_uav, a.split or "train"))
            source = f"HIT-UAV {a.split or 'train'} split (by recording)"
        elif a.aerial_cars:
            from .datasets import aerial_cars_samples

            classes = ("vehicle",)
            items = ((s.path, s.boxes, np.zeros(len(s.boxes)), np.zeros((0, 4)), s.scale)
                     for s in aerial_cars_samples(a.aerial_cars, a.split or "source-train"))
            source = f"aerial-cars {a.split or 'source-train'} split (by flight and mosaic)"
        elif a.fire_smoke:
            from .datasets import fire_smoke_samples

            classes = ("fire", "smoke")
            # with --crop, a 608 px still is seen at 1.25x a 320 px window (zoomed 0.7-1.4x
            # around that), as the whole-frame fire/smoke pass shows a frame
            items = ((s.path, s.boxes, np.array([classes.index(c) for c in s.classes]),
                      np.zeros((0, 4)), 400.0 / max(_image_side(s.path), 1))
                     for s in fire_smoke_samples(a.fire_smoke, a.split or "source-train"))
            source = f"fire-smoke {a.split or 'source-train'} split (by video and photo)"
        elif a.yolo:
            mapping = {int(k): classes.index(v) for k, v in
                       (kv.split("=") for kv in a.map.split(",") if kv)}
            ign = {int(v) for v in a.ignore.split(",") if v}
            items = yolo_items(a.yolo, a.split, mapping, ign)
            source = f"{a.yolo.name}{'/' + a.split if a.split else ''}"
        else:
            ap.error("pack needs --hit-uav, --aerial-cars, --fire-smoke or --yolo")
        if a.synthetic:
            items = [*items, *synthetic_items(a.synthetic, classes, a.synthetic_max)]
            source += f" + {a.synthetic_max} simulator frames at most"
        print(json.dumps(pack(a.out, items, classes, source)))
        return 0
    if a.cmd == "export":
        side = json.loads(a.weights.with_suffix(".train.json").read_text())
        meta = {k: v for k, v in side.items() if k not in ("classes", "size")}
        export_from_weights(a.weights, a.out, side["classes"],
                            a.size or tuple(side["size"]), meta, grey=a.grey)
        print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB)")
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    lo, hi = (float(v) for v in a.scale_range.split(","))
    logf = open(a.out.with_suffix(".log"), "a") if a.out.parent.is_dir() else None

    def log(msg):
        print(msg, flush=True)
        if logf:
            logf.write(msg + "\n")
            logf.flush()
    meta = train(a.pack, a.out, a.size, a.minutes, a.steps, a.batch, a.lr, a.workers,
                 (lo, hi), a.pretrained, log, init=a.init, act=a.act, teacher=a.teacher,
                 crop=a.crop, grey=a.grey, focus=a.focus)
    log(json.dumps(meta))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
