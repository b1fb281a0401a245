"""The ONNX runner: backends, tiling back to full-frame pixels, NMS, broken model files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from processing.detect.datasets import aerial_cars_samples
from processing.detect.evaluate import iou_matrix
from processing.detect.learned import FIRE_SMOKE_MODEL, VEHICLE_MODEL
from processing.detect.onnx_runner import ModelInfo, OnnxModel, nms, tile_grid
from uav.errors import DetectorError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
YOLOX = DATA / "models" / "yolox_nano.onnx"


class SquareFinder(OnnxModel):
    """The runner with its network swapped for an exact one: white squares -> boxes.

    Everything else (tiling, padding, decoding, margin rule, NMS, mapping back) is the real code.
    """

    def __init__(self, size=64, stride=4):
        self.path = Path("square-finder")
        self.backend = "onnxruntime"
        self.info = ModelInfo("amur-tinycenter-1", ["square"], (size, size), stride)

    def forward(self, batch):
        img = batch[0, 0]
        s = self.info.stride
        h, w = img.shape[0] // s, img.shape[1] // s
        heat = np.zeros((1, 1, h, w), np.float32)
        dist = np.zeros((1, 4, h, w), np.float32)
        n, lab, stats, cent = cv2.connectedComponentsWithStats((img > 250).astype(np.uint8))
        for i in range(1, n):
            x, y, bw, bh, _ = stats[i]
            cx, cy = cent[i] + 0.5
            gx, gy = min(int(cx // s), w - 1), min(int(cy // s), h - 1)
            heat[0, 0, gy, gx] = 0.9
            px, py = (gx + 0.5) * s, (gy + 0.5) * s
            dist[0, :, gy, gx] = [px - x, py - y, x + bw - px, y + bh - py]
        return [heat, dist]


def test_tile_grid_covers_the_frame():
    corners = tile_grid(1000, 700, 320, 320, 0.25)
    cover = np.zeros((700, 1000), bool)
    for x, y in corners:
        cover[y:y + 320, x:x + 320] = True
    assert cover.all()
    assert all(x + 320 <= 1000 and y + 320 <= 700 for x, y in corners)
    assert tile_grid(200, 100, 320, 320, 0.25) == [(0, 0)]


def test_tiling_maps_boxes_back_to_full_frame_pixels():
    frame = np.zeros((300, 470, 3), np.uint8)
    truth = [(5, 7, 17, 15), (100, 40, 110, 52), (40, 33, 52, 45),   # 2nd and 3rd: tile seams
             (455, 280, 467, 292), (230, 150, 241, 161)]
    for x0, y0, x1, y1 in truth:
        frame[y0:y1, x0:x1] = 255
    model = SquareFinder()
    for scale in (1.0, 0.5):
        d = model.detect(frame, scale=scale, overlap=0.3, score_thr=0.5)
        assert len(d) == len(truth), f"scale {scale}: one box per square expected, got {d}"
        iou = iou_matrix(d[:, :4], np.array(truth, np.float32))
        assert (iou.max(axis=0) > (0.99 if scale == 1.0 else 0.6)).all(), iou
    # fitted into one input (scale chosen by the runner, squares shrink to ~1.5 px): what is
    # still seen lands on the right squares
    d = model.detect(frame, scale=None, score_thr=0.5)
    assert len(d) >= 1 and d[:, 2].max() <= 470 and d[:, 3].max() <= 300
    assert (iou_matrix(d[:, :4], np.array(truth, np.float32)).max(axis=1) > 0.3).all()


def test_nms_merges_duplicates_and_boxes_cut_by_a_tile_edge():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 5, 10], [50, 50, 60, 60]], float)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.5)
    assert list(keep) == [0, 3]


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(DetectorError, match="model file .*nope.onnx not found"):
        OnnxModel(tmp_path / "nope.onnx")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf" * 10)
    for backend in ("onnxruntime", "opencv"):
        with pytest.raises(DetectorError, match=f"broken.onnx cannot be loaded as ONNX \\({backend}\\)"):
            OnnxModel(bad, backend)
    with pytest.raises(DetectorError, match="unknown ONNX backend 'tensorflow'"):
        OnnxModel(VEHICLE_MODEL, "tensorflow")
    # a model description that lacks what the runner needs
    model = tmp_path / "m.onnx"
    model.write_bytes(VEHICLE_MODEL.read_bytes())
    (tmp_path / "m.json").write_text('{"stride": 4}')
    with pytest.raises(DetectorError, match="m.json is unreadable or incomplete"):
        OnnxModel(model)


def test_refuses_non_colour_frames():
    m = OnnxModel(FIRE_SMOKE_MODEL)
    with pytest.raises(DetectorError, match="8-bit colour frame"):
        m.detect(np.zeros((50, 50, 3), np.uint16))


def test_both_backends_agree_on_our_model():
    img = np.random.default_rng(3).integers(0, 255, (200, 260, 3), dtype=np.uint8)
    a = OnnxModel(VEHICLE_MODEL, "onnxruntime")
    b = OnnxModel(VEHICLE_MODEL, "opencv")
    x = a._prep(cv2.resize(img, (320, 320)))
    for ra, rb in zip(a.forward(x), b.forward(x), strict=True):
        assert ra.shape == rb.shape
        np.testing.assert_allclose(ra, rb, atol=2e-3, rtol=1e-3)


@pytest.mark.skipif(not (DATA / "aerial-cars").is_dir(), reason="../shared/data/aerial-cars absent")
def test_vehicle_model_tiles_a_real_held_back_frame():
    # a held-back 1920x1080 DJI frame, tiled at the training resolution: boxes must land on
    # the labelled cars in full-frame pixels
    s = next(s for s in aerial_cars_samples(DATA / "aerial-cars", "valid")
             if s.path.name.startswith("DJI_") and len(s.boxes) >= 5)
    img = cv2.imread(str(s.path))
    d = OnnxModel(VEHICLE_MODEL).detect(img, scale=s.scale, score_thr=0.35)
    iou = iou_matrix(d[:, :4], s.boxes)
    found = (iou.max(axis=0) >= 0.5).mean()
    assert found >= 0.6, f"only {found:.0%} of {len(s.boxes)} cars found in {s.path.name}"
    assert d[:, 2].max() <= img.shape[1] and d[:, 3].max() <= img.shape[0]


@pytest.mark.skipif(not YOLOX.exists(), reason="../shared/data/models/yolox_nano.onnx absent")
def test_yolox_plumbing_on_both_backends():
    img = np.full((600, 900, 3), 90, np.uint8)
    img[200:260, 300:420] = (40, 40, 200)
    results = []
    for backend in ("onnxruntime", "opencv"):
        m = OnnxModel(YOLOX, backend)
        assert m.info.format == "yolox" and m.info.input_size == (416, 416)
        assert len(m.info.classes) == 80
        raw = m.forward(m._prep(np.full((416, 416, 3), 114, np.uint8)))[0]
        assert raw.shape == (1, 3549, 85)
        results.append(m.detect(img, scale=0.6, score_thr=0.01))
    a, b = results
    assert a.shape[1] == 6 and (a[:, :4] >= 0).all() and (a[:, 2] <= 900).all()
    assert len(a) == len(b)
    np.testing.assert_allclose(a[:, 4], b[:, 4], atol=1e-3)
