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
import sys
import time
from pathlib import Path

import numpy as np

from .datasets import CANONICAL_GSD_M, aerial_cars_samples, fire_smoke_samples
from .training_views import KINDS, TrainSet, add_synthetic


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
