"""The YOLOX-Nano training path: the COCO weights load exactly, and a short run on a YOLO
folder packs, trains, exports an ONNX model the runtime runs.  Needs the ``train`` extra
(torch, onnx) and ``../shared/data/models/yolox_nano.onnx``; skips without them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from processing.detect.evaluate import data_root

torch = pytest.importorskip("torch", reason="torch is not installed (pip install .[train])")
pytest.importorskip("onnx", reason="onnx is not installed (pip install .[train])")
PRETRAINED = data_root() / "models" / "yolox_nano.onnx"
pytestmark = pytest.mark.skipif(not PRETRAINED.is_file(),
                                reason=f"COCO YOLOX-Nano not found at {PRETRAINED}")


def test_rebuilt_network_reproduces_the_coco_onnx_model():
    import onnxruntime as ort

    from processing.detect.yolox_net import Exported, YoloxNano, load_onnx_weights

    net = YoloxNano(80).eval()
    counts = load_onnx_weights(net, PRETRAINED)
    assert counts["copied"] == 110
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    ref = ort.InferenceSession(str(PRETRAINED),
                               providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with torch.no_grad():
        out = Exported(net)(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape == (1, 3549, 85)
    # boxes and objectness are COCO's own; class rows were re-seeded (none named here)
    assert np.abs(out[..., :5] - ref[..., :5]).max() < 1e-3


def test_pack_train_export_and_run(tmp_path):
    from processing.detect.onnx_runner import OnnxModel
    from processing.detect.yolox_train import main

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        img = rng.integers(20, 60, (128, 160), np.uint8)
        img[40:52, 60:68] = 220                                  # a warm body
        cv2.imwrite(str(root / "images" / f"f{i}.jpg"), img)
        (root / "labels" / f"f{i}.txt").write_text(
            "0 0.4 0.359 0.05 0.094\n2 0.1 0.1 0.05 0.05\n")   # a person and a bicycle
    pack = tmp_path / "p.npz"
    assert main(["pack", "--yolo", str(root), "--classes", "person,vehicle",
                 "--map", "0=person,1=vehicle", "--ignore", "2", "--out", str(pack)]) == 0
    z = np.load(pack, allow_pickle=True)
    assert len(z["blobs"]) == 4 and len(z["boxes"][0]) == 1 and len(z["ignore"][0]) == 1
    out = tmp_path / "m.onnx"
    assert main(["train", "--pack", str(pack), "--out", str(out), "--steps", "2", "--batch",
                 "2", "--size", "160x128", "--pretrained", str(PRETRAINED)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["format"] == "yolox" and side["classes"] == ["person", "vehicle"]
    assert side["input_size"] == [160, 128] and side["steps"] == 2
    assert out.stat().st_size < 10e6
    model = OnnxModel(out)
    assert model.dynamic   # one forward per frame, any size that is a multiple of 32
    d = model.detect(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), 1.0, score_thr=0.0)
    assert d.ndim == 2 and d.shape[1] == 6 and set(np.unique(d[:, 5])) <= {0.0, 1.0}


def test_grey_export_gives_the_same_outputs_from_one_channel():
    from processing.detect.yolox_net import Exported, YoloxNano, grey_input, load_onnx_weights

    net = YoloxNano(2).eval()
    load_onnx_weights(net, PRETRAINED, ("person", "vehicle"))
    x = torch.from_numpy(np.random.default_rng(2).uniform(0, 255, (1, 1, 128, 160))
                         .astype(np.float32))
    with torch.no_grad():
        three = Exported(net)(x.repeat(1, 3, 1, 1))
        one = Exported(grey_input(net))(x)
    assert one.shape == three.shape
    assert torch.abs(one - three).max() < 1e-3


def test_relu_student_distilled_on_windows_exports_a_grey_model(tmp_path):
    """The thermal model's recipe: a ReLU network started from a SiLU run's weights, taught
    by that run on windows at the frame's own scale, exported taking one channel."""
    from processing.detect.onnx_runner import OnnxModel
    from processing.detect.yolox_train import main

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    img = np.full((256, 320), 40, np.uint8)
    img[100:112, 150:158] = 220
    for i in range(2):
        cv2.imwrite(str(root / "images" / f"f{i}.jpg"), img)
        (root / "labels" / f"f{i}.txt").write_text("0 0.481 0.414 0.025 0.047\n")
    pack = tmp_path / "p.npz"
    assert main(["pack", "--yolo", str(root), "--map", "0=person", "--out", str(pack)]) == 0
    silu = tmp_path / "silu.onnx"
    common = ["--pack", str(pack), "--steps", "1", "--batch", "2", "--pretrained",
              str(PRETRAINED)]
    assert main(["train", *common, "--out", str(silu), "--size", "160x128"]) == 0
    relu = tmp_path / "relu.onnx"
    assert main(["train", *common, "--out", str(relu), "--size", "128x96", "--crop",
                 "--act", "relu", "--init", str(silu.with_suffix(".pt")),
                 "--teacher", str(silu.with_suffix(".pt")), "--grey"]) == 0
    side = json.loads(relu.with_suffix(".json").read_text())
    assert side["activation"] == "relu" and side["channels"] == 1
    assert side["distilled_from"] == "silu.pt" and "own scale" in side["windows"]
    model = OnnxModel(relu)
    assert model.channels == 1 and model.dynamic
    d = model.detect(img, 1.0, score_thr=0.0)          # grey in, whole frame
    assert d.shape[1] == 6 and len(d) > 0
    d3 = model.detect(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), 1.0, score_thr=0.0)
    assert np.allclose(d[:5], d3[:5], atol=1e-3)       # a colour frame is read as its luminance
