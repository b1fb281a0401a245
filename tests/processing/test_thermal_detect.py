"""Thermal frames: what counts as thermal, how it becomes intensity, bad input, and the shipped
person/vehicle model on real held-out HIT-UAV frames through ``uav process`` and the CSV export.
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest
from click.testing import CliRunner

from processing.detect.base import FrameInfo
from processing.detect.evaluate import data_root, iou_matrix
from processing.detect.registry import detectors_for_frame, get_detector
from processing.detect.thermal_models import thermal_intensity
from processing.frames import decode_frame, read_metadata
from uav.cli import cli
from uav.errors import DetectorError

HITUAV = data_root() / "hit-uav"
needs_hituav = pytest.mark.skipif(not (HITUAV / "images").is_dir(),
                                  reason=f"HIT-UAV thermal frames not found at {HITUAV}")


def _warm_scene(h=512, w=640, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(40, 90, (h, w), np.uint8), (0, 0), 4)


def _with_exif(path: Path, jpeg: bytes, make: str, model: str) -> None:
    blob = piexif.dump({"0th": {piexif.ImageIFD.Make: make.encode(),
                                piexif.ImageIFD.Model: model.encode()}})
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob + jpeg[2:])


# ------------------------------------------------------------------ what is thermal
def test_thermal_frames_are_recognised_from_the_file(tmp_path):
    grey = _warm_scene()
    colour = cv2.merge([grey, grey // 2, 255 - grey])
    cv2.imwrite(str(tmp_path / "grey.jpg"), grey)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "colour.jpg"), colour)
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    cv2.imwrite(str(tmp_path / "radiometric.tif"), (grey.astype(np.uint16) * 10 + 29000))
    jpeg = cv2.imencode(".jpg", colour)[1].tobytes()
    _with_exif(tmp_path / "DJI_0001_T.JPG", jpeg, "DJI", "M3T")          # palette image
    _with_exif(tmp_path / "DJI_0002_W.JPG",
               cv2.imencode(".jpg", cv2.resize(colour, (1280, 960)))[1].tobytes(), "DJI", "M3T")
    _with_exif(tmp_path / "other.jpg", jpeg, "Canon", "EOS")
    thermal = {p.name: read_metadata(p).thermal for p in sorted(tmp_path.iterdir())}
    assert thermal == {"DJI_0001_T.JPG": True, "DJI_0002_W.JPG": False, "colour.jpg": False,
                       "colour.png": False, "grey.jpg": True, "grey.png": True,
                       "other.jpg": False, "radiometric.tif": True}


def test_a_thermal_camera_profile_makes_a_colour_frame_thermal(tmp_path):
    from processing import process_frames
    from processing.store import FlightStore
    from uav.profiles import get_camera

    folder = tmp_path / "frames"
    folder.mkdir()
    grey = _warm_scene()
    cv2.imwrite(str(folder / "palette.jpg"), cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO))
    s = process_frames([str(folder)], tmp_path / "a.gpkg", detectors=["person"], workers=0,
                       camera=get_camera("m3t-thermal"), progress=False)
    assert s.failed == 0
    with FlightStore.open(tmp_path / "a.gpkg") as st:
        assert [bool(f.thermal) for f in st.frames()] == [True]


# ------------------------------------------------------------------ intensity and bad input
def test_radiometric_frames_are_stretched_per_frame_despite_hot_outliers():
    raw = (_warm_scene().astype(np.uint16) * 10 + 29000)
    raw[10:12, 10:12] = 60000            # an exhaust pipe or the sun's glint
    raw[0, :] = 0                        # dead row
    out = thermal_intensity(raw, FrameInfo("f.tif", thermal=True))
    assert out.dtype == np.uint8 and out.shape == raw.shape
    body = out[20:, 20:]
    assert np.percentile(body, 99) - np.percentile(body, 1) > 150   # scene uses the range
    assert out[10, 10] == 255 and (out[0] == 0).all()


@pytest.mark.parametrize("image,match", [
    (np.zeros((512, 640), np.uint16), "no valid pixels"),
    (np.full((512, 640), np.nan, np.float32), "no valid pixels"),
    (np.zeros((1, 1), np.uint8), "1x1 px"),
])
def test_bad_thermal_frames_are_named(image, match):
    det = get_detector("person")
    with pytest.raises(DetectorError, match=match) as e:
        det.detect(image, FrameInfo("/card/FLIR_0042.tif", thermal=True))
    assert "FLIR_0042.tif" in str(e.value)


def test_a_colour_photo_is_refused_by_the_thermal_models():
    photo = cv2.applyColorMap(_warm_scene(), cv2.COLORMAP_JET)
    for name in ("person", "thermal-vehicle"):
        with pytest.raises(DetectorError, match="colour photo") as e:
            get_detector(name).detect(photo, FrameInfo("/card/DJI_0007.JPG"))
        assert "DJI_0007.JPG" in str(e.value)
    with pytest.raises(DetectorError, match="DJI_0007.JPG.*thermal frames only"):
        detectors_for_frame([get_detector("person")], False, "/card/DJI_0007.JPG")


def test_vehicle_hands_over_to_the_thermal_model_on_thermal_frames():
    dets = [get_detector("person"), get_detector("vehicle"), get_detector("fire")]
    on_thermal = detectors_for_frame(dets, True)
    on_colour = detectors_for_frame(dets, False)
    assert [d.name for d in on_thermal] == ["person", "thermal-vehicle"]
    assert [d.name for d in on_colour] == ["vehicle", "fire"]
    assert on_thermal[1].classes == ("vehicle",)


def test_a_batch_goes_on_past_bad_thermal_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_good.jpg"), _warm_scene())
    cv2.imwrite(str(folder / "b_tiny.png"), np.zeros((1, 1), np.uint8))
    cv2.imwrite(str(folder / "c_empty.tif"), np.zeros((512, 640), np.uint16))
    cv2.imwrite(str(folder / "d_colour.jpg"), cv2.applyColorMap(_warm_scene(), cv2.COLORMAP_JET))
    out = tmp_path / "f.gpkg"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors",
                                 "person", "--workers", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "failed: 3" in r.output
    for name, why in (("b_tiny.png", "too small"), ("c_empty.tif", "no valid pixels"),
                      ("d_colour.jpg", "thermal frames only")):
        line = next(ln for ln in r.output.splitlines() if name in ln and "FAILED" in ln.upper())
        assert why in line, line


# ------------------------------------------------------------------ real frames
@needs_hituav
def test_shipped_model_finds_people_and_vehicles_on_held_out_recordings():
    from processing.detect.hituav import hituav_samples

    samples = hituav_samples(HITUAV, "test")[::6]     # 80 m: never seen in training or tuning
    person, vehicle = get_detector("person"), get_detector("thermal-vehicle")
    tally = {0: [0, 0, 0], 1: [0, 0, 0]}             # labelled, found, flagged
    for s in samples:
        img = decode_frame(s.path.read_bytes(), str(s.path))
        info = FrameInfo(str(s.path), thermal=True)
        for k, det in ((0, person), (1, vehicle)):
            found = det.detect(img, info)
            gt = s.boxes[s.labels == k]
            boxes = np.array([[d.x0, d.y0, d.x1, d.y1] for d in found]).reshape(-1, 4)
            iou = iou_matrix(gt, boxes)
            tally[k][0] += len(gt)
            tally[k][1] += int((iou.max(1) >= 0.5).sum()) if iou.size else 0
            tally[k][2] += len(found)
    for k, (n_gt, hit, n_det) in tally.items():
        assert n_gt >= 20
        assert hit / n_gt >= 0.6, (k, tally)
        assert n_det <= 2 * n_gt, (k, tally)


@needs_hituav
def test_uav_process_person_vehicle_and_csv_export(tmp_path):
    from processing.detect.hituav import hituav_samples

    samples = [s for s in hituav_samples(HITUAV, "test") if s.recording.night][:4]
    folder = tmp_path / "card"
    folder.mkdir()
    for s in samples:
        (folder / s.path.name).write_bytes(s.path.read_bytes())
    out = tmp_path / "night.gpkg"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors",
                                 "person,vehicle", "--workers", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "no pose: 4" in r.output and "failed: 0" in r.output   # no EXIF, still searched
    csv_path = tmp_path / "flags.csv"
    r = CliRunner().invoke(cli, ["export", str(out), "--to", "csv", "-o", str(csv_path),
                                 "--status", "all", "--per-flag"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(csv_path.open()))
    assert {row["class"] for row in rows} == {"person", "vehicle"}
    found = {"person": [0, 0], "vehicle": [0, 0]}   # labelled, flagged with IoU >= 0.5
    for s in samples:
        mine = [r_ for r_ in rows if r_["frame_name"] == s.path.name]
        for k, cls in enumerate(("person", "vehicle")):
            gt = s.boxes[s.labels == k]
            boxes = np.array([[float(r_[c]) for c in ("px_x0", "px_y0", "px_x1", "px_y1")]
                              for r_ in mine if r_["class"] == cls]).reshape(-1, 4)
            iou = iou_matrix(gt, boxes)   # pixel boxes kept although the frame has no position
            found[cls][0] += len(gt)
            found[cls][1] += int((iou.max(1) >= 0.5).sum()) if iou.size else 0
    for cls, (n_gt, hit) in found.items():
        assert n_gt >= 5 and hit / n_gt >= 0.6, (cls, found)
    assert all(r_["lat"] == "" and r_["position_note"] for r_ in rows)


def test_watch_prints_a_person_alert_as_soon_as_its_frame_is_done(tmp_path):
    """--watch without --per-flag: a person (or vehicle) flag is printed as its frame is done,
    before the batch is grouped into sightings; other classes wait for the sighting line."""
    from processing.detect.base import Detection, Detector
    from processing.watch import watch_folder

    class WarmSpots(Detector):   # a real detector over the real pipeline: bright blobs
        name, classes, wants_thermal = "warm", ("person", "fire"), True

        def detect(self, image, info=None):
            g = thermal_intensity(image, info)
            ys, xs = np.nonzero(g > 200)
            return [Detection("person", 0.9, float(xs.min()), float(ys.min()),
                              float(xs.max() + 1), float(ys.max() + 1)),
                    Detection("fire", 0.8, 0, 0, 10, 10)] if len(xs) else []

    folder = tmp_path / "card"
    folder.mkdir()
    for i in range(3):
        img = _warm_scene(seed=i)
        img[100:112, 200 + 40 * i:206 + 40 * i] = 240
        cv2.imwrite(str(folder / f"t{i}.jpg"), img)
    lines = []
    watch_folder(folder, tmp_path / "w.gpkg", poll_s=0.1, settle_s=0.2, flag_lines=False,
                 stop=lambda: sum(ln.startswith("ALERT") for ln in lines) >= 3,
                 echo=lines.append, detectors=[WarmSpots()], workers=0)
    alerts = [ln for ln in lines if ln.startswith("ALERT")]
    assert [a.split()[1] for a in alerts] == ["person"] * 3
    assert [a.split(" in ")[-1] for a in alerts] == ["t0.jpg", "t1.jpg", "t2.jpg"]
    assert "no position" in alerts[0]
    first_sighting = next(i for i, ln in enumerate(lines) if ln.startswith("SIGHTING"))
    assert first_sighting > lines.index(alerts[-1])   # alerts came before the grouping


@needs_hituav
def test_a_16_bit_radiometric_tiff_finds_what_its_8_bit_frame_shows(tmp_path):
    from processing.detect.hituav import hituav_samples

    s = next(x for x in hituav_samples(HITUAV, "test") if (x.labels == 0).sum() >= 4)
    grey = cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE)
    raw = (grey.astype(np.uint16) * 8 + 28000)        # centikelvin-like, 7 K per grey step
    raw[5, 5] = 65000                                  # a hot outlier must not flatten it
    tif = tmp_path / "FLIR_0001.tif"
    cv2.imwrite(str(tif), raw)
    img = decode_frame(tif.read_bytes(), str(tif))
    assert img.dtype == np.uint16 and img.ndim == 2 and read_metadata(tif).thermal
    det = get_detector("person")
    a = det.detect(cv2.imread(str(s.path)), FrameInfo(str(s.path), thermal=True))
    b = det.detect(img, FrameInfo(str(tif), thermal=True))
    boxes = lambda ds: np.array([[d.x0, d.y0, d.x1, d.y1] for d in ds]).reshape(-1, 4)  # noqa: E731
    gt = s.boxes[s.labels == 0]
    hit_a = (iou_matrix(gt, boxes(a)).max(1) >= 0.5).sum() if len(a) else 0
    hit_b = (iou_matrix(gt, boxes(b)).max(1) >= 0.5).sum() if len(b) else 0
    assert hit_a >= 0.5 * len(gt) and hit_b >= hit_a - 1, (len(gt), hit_a, hit_b)
