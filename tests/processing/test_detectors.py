"""The detectors on small synthetic frames, and the learned ones on real photos."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio

from processing.detect.base import FrameInfo
from processing.detect.datasets import fire_smoke_samples
from processing.detect.evaluate import iou_matrix
from processing.detect.registry import get_detector
from processing.detect.thermal import to_celsius
from uav.errors import DetectorError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------- thermal
def _thermal_tiff(path: Path, patch_c: float, background_c: float = 18.0) -> None:
    """A radiometric 16-bit TIFF in centikelvin: mild ground with one hot patch."""
    rng = np.random.default_rng(0)
    t = background_c + rng.normal(0, 0.6, (120, 160))
    t[40:46, 100:108] = patch_c
    raw = np.round((t + 273.15) * 100).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=160, height=120, count=1,
                       dtype="uint16") as ds:
        ds.write(raw, 1)


def _read_tiff(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_hotspot_absolute_threshold_on_a_radiometric_tiff(tmp_path):
    _thermal_tiff(tmp_path / "hot.tif", patch_c=85.0)
    raw = _read_tiff(tmp_path / "hot.tif")
    assert raw.dtype == np.uint16
    (d,) = get_detector("hotspot", threshold_c=60).detect(raw, FrameInfo(thermal=True))
    assert (d.cls, d.x0, d.y0, d.x1, d.y1) == ("hotspot", 100, 40, 108, 46)
    assert d.extra["max_c"] == pytest.approx(85.0, abs=0.02)
    assert d.extra["background_c"] == pytest.approx(18.0, abs=0.3)
    assert d.score > 0.8
    # a 45 °C patch is below 60 °C absolute but 27 °C above its surroundings
    _thermal_tiff(tmp_path / "warm.tif", patch_c=45.0)
    warm = _read_tiff(tmp_path / "warm.tif")
    assert get_detector("hotspot", threshold_c=60).detect(warm) == []
    (d,) = get_detector("hotspot", delta_c=15).detect(warm)
    assert d.extra["threshold_c"] == pytest.approx(33.0, abs=0.3)


def test_hotspot_encodings_and_bad_frames():
    raw = np.array([[29315, 37315]], np.uint16)
    np.testing.assert_allclose(to_celsius(raw), [[20.0, 100.0]], atol=1e-3)
    np.testing.assert_allclose(to_celsius(raw // 10, "decikelvin"), [[20.0, 100.0]], atol=0.1)
    np.testing.assert_allclose(to_celsius(raw, "linear", gain=0.01, offset=-10), [[283.15, 363.15]],
                               atol=1e-3)
    np.testing.assert_allclose(to_celsius(np.float32([[21.5]])), [[21.5]])
    with pytest.raises(DetectorError, match="8-bit: it holds a colour-mapped picture"):
        to_celsius(np.zeros((4, 4), np.uint8))
    with pytest.raises(DetectorError, match="one channel.*RGB photo"):
        get_detector("hotspot").detect(np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(DetectorError, match="unknown thermal encoding 'fahrenheit'"):
        get_detector("hotspot", encoding="fahrenheit")
    with pytest.raises(DetectorError, match="delta_c must be positive"):
        get_detector("hotspot", delta_c=-5)


# --------------------------------------------------------------------------- night
def _night_frame(mean=18):
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(mean, 6, (240, 320, 3)), 0, 255).astype(np.uint8)
    cv2.circle(img, (60, 80), 3, (255, 255, 255), -1)                   # spotlight
    cv2.circle(img, (60, 80), 9, (90, 90, 90), 1)                       # its glow
    cv2.circle(img, (250, 170), 2, (240, 250, 255), -1)                 # headlight
    cv2.rectangle(img, (150, 20), (230, 90), (255, 255, 255), -1)       # lit building: too big
    return img


def test_spotlights_found_in_a_dark_frame():
    dets = get_detector("spotlight").detect(_night_frame())
    centres = sorted((round(d.center[0]), round(d.center[1])) for d in dets)
    assert centres == [(60, 80), (250, 170)], dets
    assert all(0.4 <= d.score <= 1.0 for d in dets)
    assert dets[0].extra["frame_mean"] < 60


def test_spotlight_ignores_daylight():
    day = _night_frame(mean=140)
    assert get_detector("spotlight").detect(day) == []
    assert get_detector("spotlight").detect(_night_frame(), FrameInfo(is_night=False)) == []


# --------------------------------------------------------------------------- colour baselines
def test_fire_colour_rule_finds_flame_colours_only():
    img = np.full((200, 300, 3), (60, 110, 70), np.uint8)     # green forest
    img[80:120, 100:140] = (30, 140, 250)                      # orange-red flame
    img[20:50, 200:260] = (120, 120, 125)                      # grey road
    (d,) = get_detector("fire-colour").detect(img)
    assert iou_matrix(np.array([[d.x0, d.y0, d.x1, d.y1]]), np.array([[100, 80, 140, 120]]))[0, 0] > 0.8
    assert get_detector("fire-colour").detect(np.full((200, 300, 3), (60, 110, 70), np.uint8)) == []


def test_smoke_colour_rule_finds_soft_grey():
    img = np.full((200, 300, 3), (40, 100, 50), np.uint8)
    cv2.ellipse(img, (150, 100), (60, 35), 0, 0, 360, (190, 185, 180), -1)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    dets = get_detector("smoke-colour").detect(img)
    assert len(dets) == 1 and dets[0].cls == "smoke"
    assert abs(dets[0].center[0] - 150) < 10 and abs(dets[0].center[1] - 100) < 10


# --------------------------------------------------------------------------- learned
def test_learned_detectors_check_their_input_and_options():
    with pytest.raises(DetectorError, match="threshold must be between 0 and 1"):
        get_detector("fire", threshold=1.5)
    with pytest.raises(DetectorError, match="needs an 8-bit colour frame.*thermal"):
        get_detector("vehicle").detect(np.zeros((64, 64), np.uint16))
    with pytest.raises(DetectorError, match="not found"):
        get_detector("smoke", model="/nonexistent/smoke.onnx")


FIRE_IMAGE = "fire2_mp4-39_jpg"


@pytest.mark.skipif(not (DATA / "fire-smoke" / "valid").is_dir(),
                    reason="../shared/data/fire-smoke absent")
def test_fire_detector_fires_on_a_held_back_fire_photo():
    s = next(s for s in fire_smoke_samples(DATA / "fire-smoke", "valid")
             if s.path.name.startswith(FIRE_IMAGE))
    img = cv2.imread(str(s.path))
    dets = get_detector("fire").detect(img)
    assert dets, f"no fire flagged in {s.path.name}"
    fire_gt = np.array([b for b, c in zip(s.boxes, s.classes, strict=True) if c == "fire"])
    best = iou_matrix(np.array([[d.x0, d.y0, d.x1, d.y1] for d in dets]), fire_gt).max()
    assert best >= 0.3


@pytest.mark.skipif(not (DATA / "brighton").is_dir(), reason="../shared/data/brighton absent")
def test_no_fire_or_smoke_on_a_brighton_beach_photo():
    img = cv2.imread(str(DATA / "brighton" / "DJI_0018.JPG"), cv2.IMREAD_REDUCED_COLOR_2)
    assert img is not None
    assert get_detector("fire").detect(img) == []
    assert get_detector("smoke").detect(img) == []


# --------------------------------------------------------------------------- evaluation maths
def test_matching_and_average_precision():
    from processing.detect.evaluate import average_precision, match

    gts = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    dets = [(0.9, np.array([0, 0, 10, 10])), (0.8, np.array([1, 1, 10, 10])),   # duplicate
            (0.7, np.array([20, 20, 29, 31])), (0.6, np.array([50, 50, 60, 60]))]
    hits = match(dets, gts)
    assert hits == [True, False, True, False]
    scores = np.array([d[0] for d in dets])
    # ranks: TP, FP, TP, FP -> precision 1 at recall .5, 2/3 at recall 1
    assert average_precision(scores, np.array(hits), 2) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision(scores[[0, 2]], np.array([True, True]), 2) == 1.0
    assert average_precision(np.array([]), np.array([], bool), 3) == 0.0


# --------------------------------------------------------------------------- simulator frames
def test_learned_detectors_find_objects_planted_in_simulator_frames(tmp_path):
    from processing.detect.registry import get_detectors
    from processing.detect.synthetic import load_truth
    from simulators.frames import FrameCollector
    from simulators.scene import Scene
    from uav.profiles import get_camera

    scene = Scene.generate((131.20, 43.10, 131.206, 43.1045), seed=42, n_fire=2, n_smoke=1,
                           n_vehicle=3)
    with FrameCollector(tmp_path, scene, get_camera("mavic3e-wide"), scale=0.25) as fc:
        for i, o in enumerate(scene.objects):   # one nadir frame over each object, 100 m up
            fc.on_trigger(o.lat, o.lon, scene.ground_alt_amsl + 100, 100, yaw=37 * i, pitch=0,
                          roll=0, time_s=i, index=i)
    dets = get_detectors("fire,smoke,vehicle")
    found, missed, false = [], [], []
    for fr in load_truth(tmp_path):
        img = cv2.imread(str(tmp_path / fr["file"]))
        flags = [d for det in dets for d in det.detect(img, FrameInfo(gsd_m=fr["gsd_m"]))]
        for o in fr["objects"]:
            x0, y0, x1, y1 = o["box"]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            hit = any(d.cls == o["cls"] and d.x0 <= cx <= d.x1 and d.y0 <= cy <= d.y1
                      for d in flags)
            (found if hit else missed).append((fr["file"], o["id"]))
        for d in flags:
            if not any(o["cls"] == d.cls and iou_matrix(np.array([[d.x0, d.y0, d.x1, d.y1]]),
                                                        np.array([o["box"]]))[0, 0] > 0.1
                       for o in fr["objects"]):
                false.append((fr["file"], d.cls, round(d.score, 2)))
    planted = {i for _, i in found + missed}
    assert {i for _, i in found if not i.startswith("smoke")} == \
        {i for i in planted if not i.startswith("smoke")}, f"missed {missed}"
    assert len(false) <= 1, f"flags on nothing: {false}"
