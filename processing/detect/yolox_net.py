"""YOLOX-Nano in PyTorch, started from the COCO weights of ``models/yolox_nano.onnx``.

Training only (imports torch; nothing at run time imports this module).  The network is the
published YOLOX-Nano layout, rebuilt here: a depthwise CSPDarknet backbone (width 0.25, depth
0.33, Focus stem, SPP at 1/32), a PAFPN neck and a decoupled head per stride (8, 16, 32) with
separate class, box and objectness branches.

The ONNX export folded every batch norm into its convolution, so the convolutions here carry a
bias and have no batch norm: the COCO weights load exactly (``load_onnx_weights`` copies each
ONNX ``Conv`` into the next convolution in execution order, checking shapes, and
``tests/processing/test_thermal_training.py`` checks the rebuilt network reproduces the ONNX
output).  Fine-tuning a detector with frozen, folded normalisation is the usual practice with
small batches anyway.

``forward`` returns per stride the raw maps (box 4, objectness 1, classes C); ``export_head``
turns them into the ``(1, N, 5 + C)`` layout :mod:`processing.detect.onnx_runner` decodes as
``yolox`` (box offsets and log sizes raw, objectness and classes through a sigmoid).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

STRIDES = (8, 16, 32)
# COCO class indices whose head rows seed our classes (person; car, bus, truck, motorcycle)
COCO_ROWS = {"person": (0,), "vehicle": (2, 5, 7), "car": (2,), "truck": (7,), "bus": (5,)}


ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}


class Conv(nn.Module):
    """Convolution (batch norm folded in) + activation.  COCO's YOLOX uses SiLU; ReLU folds
    into the convolution at run time (onnxruntime fuses it, SiLU costs a pass of its own:
    a quarter of a thermal frame's time on one core)."""

    def __init__(self, ci, co, k=1, s=1, groups=1, act="silu"):
        super().__init__()
        self.conv = nn.Conv2d(ci, co, k, s, (k - 1) // 2, groups=groups, bias=True)
        self.act = ACTIVATIONS[act]()

    def forward(self, x):
        return self.act(self.conv(x))


class DWConv(nn.Module):
    """Depthwise k x k then pointwise 1 x 1."""

    def __init__(self, ci, co, k=3, s=1):
        super().__init__()
        self.dconv = Conv(ci, ci, k, s, groups=ci)
        self.pconv = Conv(ci, co, 1)

    def forward(self, x):
        return self.pconv(self.dconv(x))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.conv1 = Conv(c, c, 1)
        self.conv2 = DWConv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return x + y if self.add else y


class CSP(nn.Module):
    def __init__(self, ci, co, n, shortcut=True):
        super().__init__()
        h = co // 2
        self.conv1 = Conv(ci, h, 1)
        self.conv2 = Conv(ci, h, 1)
        self.conv3 = Conv(2 * h, co, 1)
        self.m = nn.Sequential(*[Bottleneck(h, shortcut) for _ in range(n)])

    def forward(self, x):
        a = self.conv1(x)
        b = self.conv2(x)   # before m: the ONNX graph runs them in this order
        return self.conv3(torch.cat([self.m(a), b], 1))


class SPP(nn.Module):
    """Max pools of 5, 9 and 13 computed as one 5 x 5 pool applied in cascade: the same
    numbers (a 5-pool of a 5-pool is a 9-pool, padding counting as minus infinity), a
    fraction of the work."""

    def __init__(self, ci, co):
        super().__init__()
        h = ci // 2
        self.conv1 = Conv(ci, h, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.conv2 = Conv(h * 4, co, 1)

    def forward(self, x):
        x = self.conv1(x)
        p5 = self.pool(x)
        p9 = self.pool(p5)
        return self.conv2(torch.cat([x, p5, p9, self.pool(p9)], 1))


class Focus(nn.Module):
    """Space to depth (2 x 2 pixels -> 4 channels), then a 3 x 3 convolution."""

    def __init__(self, ci, co):
        super().__init__()
        self.conv = Conv(ci * 4, co, 3)

    def forward(self, x):
        tl, tr = x[..., ::2, ::2], x[..., ::2, 1::2]
        bl, br = x[..., 1::2, ::2], x[..., 1::2, 1::2]
        return self.conv(torch.cat([tl, bl, tr, br], 1))


class YoloxNano(nn.Module):
    """YOLOX-Nano for ``num_classes`` classes; input BGR 0..255, NCHW float32, sides a
    multiple of 32."""

    def __init__(self, num_classes: int, act: str = "silu"):
        super().__init__()
        self.num_classes, self.act = num_classes, act
        self.stem = Focus(3, 16)
        self.dark2 = nn.Sequential(DWConv(16, 32, 3, 2), CSP(32, 32, 1))
        self.dark3 = nn.Sequential(DWConv(32, 64, 3, 2), CSP(64, 64, 3))
        self.dark4 = nn.Sequential(DWConv(64, 128, 3, 2), CSP(128, 128, 3))
        self.dark5 = nn.Sequential(DWConv(128, 256, 3, 2), SPP(256, 256),
                                   CSP(256, 256, 1, shortcut=False))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = Conv(256, 128, 1)
        self.C3_p4 = CSP(256, 128, 1, False)
        self.reduce_conv1 = Conv(128, 64, 1)
        self.C3_p3 = CSP(128, 64, 1, False)
        self.bu_conv2 = DWConv(64, 64, 3, 2)
        self.C3_n3 = CSP(128, 128, 1, False)
        self.bu_conv1 = DWConv(128, 128, 3, 2)
        self.C3_n4 = CSP(256, 256, 1, False)
        self.stems = nn.ModuleList([Conv(c, 64, 1) for c in (64, 128, 256)])
        self.cls_convs = nn.ModuleList([nn.Sequential(DWConv(64, 64), DWConv(64, 64))
                                        for _ in STRIDES])
        self.reg_convs = nn.ModuleList([nn.Sequential(DWConv(64, 64), DWConv(64, 64))
                                        for _ in STRIDES])
        self.cls_preds = nn.ModuleList([nn.Conv2d(64, num_classes, 1) for _ in STRIDES])
        self.reg_preds = nn.ModuleList([nn.Conv2d(64, 4, 1) for _ in STRIDES])
        self.obj_preds = nn.ModuleList([nn.Conv2d(64, 1, 1) for _ in STRIDES])
        if act != "silu":
            for m in self.modules():
                if isinstance(m, Conv):
                    m.act = ACTIVATIONS[act]()

    def features(self, x):
        x = self.dark2(self.stem(x))
        x2 = self.dark3(x)
        x1 = self.dark4(x2)
        x0 = self.dark5(x1)
        fpn0 = self.lateral_conv0(x0)
        f = self.C3_p4(torch.cat([self.up(fpn0), x1], 1))
        fpn1 = self.reduce_conv1(f)
        p3 = self.C3_p3(torch.cat([self.up(fpn1), x2], 1))
        p4 = self.C3_n3(torch.cat([self.bu_conv2(p3), fpn1], 1))
        p5 = self.C3_n4(torch.cat([self.bu_conv1(p4), fpn0], 1))
        return p3, p4, p5

    def forward(self, x):
        """Per stride a (B, 5 + C, h, w) map: box (4, raw), objectness logit, class logits."""
        out = []
        for i, f in enumerate(self.features(x)):
            f = self.stems[i](f)
            cls = self.cls_preds[i](self.cls_convs[i](f))
            r = self.reg_convs[i](f)
            out.append(torch.cat([self.reg_preds[i](r), self.obj_preds[i](r), cls], 1))
        return out


def grey_input(net: YoloxNano) -> YoloxNano:
    """A copy of ``net`` taking one intensity channel instead of three equal ones.

    A thermal frame reaches the model as its intensity in all three channels, so the stem's
    weights can be summed over colour: the same outputs from a third of the stem's work (the
    stem is the costliest layer at full resolution).
    """
    import copy

    grey = copy.deepcopy(net)
    old = net.stem.conv.conv
    w = old.weight.detach()
    new = nn.Conv2d(4, old.out_channels, old.kernel_size, old.stride, old.padding, bias=True)
    with torch.no_grad():
        # Focus concatenates 4 pixel phases of the 3 colours: channel = phase * 3 + colour
        new.weight.copy_(w.reshape(w.shape[0], 4, 3, *w.shape[2:]).sum(2))
        new.bias.copy_(old.bias.detach())
    grey.stem.conv.conv = new
    return grey


class Exported(nn.Module):
    """The network with the ``yolox`` output layout (1, N, 5 + C), for ONNX export."""

    def __init__(self, net: YoloxNano):
        super().__init__()
        self.net = net

    def forward(self, x):
        outs = []
        for o in self.net(x):
            o = torch.cat([o[:, :4], torch.sigmoid(o[:, 4:])], 1)
            outs.append(o.flatten(2))
        return torch.cat(outs, 2).permute(0, 2, 1)


def _onnx_convs(path: Path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = inits[node.input[1]]
            b = inits[node.input[2]] if len(node.input) > 2 else None
            convs.append((node.name, w, b))
    return convs


def load_onnx_weights(net: YoloxNano, path: str | Path,
                      classes: tuple[str, ...] = ()) -> dict:
    """Copy the COCO YOLOX-Nano weights from ``path`` into ``net``.

    Every convolution but the class predictions is copied as it is.  Each of our classes'
    prediction row starts from the mean of its COCO rows (:data:`COCO_ROWS`) when known, else
    from the COCO prior bias with small random weights.  Returns counts of what was copied.
    """
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    convs = _onnx_convs(Path(path))
    if len(convs) != len(order):
        raise ValueError(f"{path}: {len(convs)} convolutions, the network has {len(order)}")
    cls_preds = set(net.cls_preds)
    copied = seeded = 0
    with torch.no_grad():
        for mod, (name, w, b) in zip(order, convs):
            if mod in cls_preds:
                for k, cname in enumerate(classes or [f"class{j}" for j in
                                                      range(mod.out_channels)]):
                    rows = COCO_ROWS.get(cname)
                    if rows:
                        mod.weight[k] = torch.from_numpy(w[list(rows)].mean(0).copy())
                        mod.bias[k] = float(b[list(rows)].mean())
                        seeded += 1
                    else:
                        nn.init.normal_(mod.weight[k], 0, 0.01)
                        mod.bias[k] = float(b.mean())
                continue
            if tuple(mod.weight.shape) != w.shape:
                raise ValueError(f"{path}: {name} has weights {w.shape}, the network expects "
                                 f"{tuple(mod.weight.shape)}")
            mod.weight.copy_(torch.from_numpy(w.copy()))
            mod.bias.copy_(torch.from_numpy(b.copy()))
            copied += 1
    return {"copied": copied, "class_rows_from_coco": seeded}
