"""Thermal frames at a height the model was not trained at: with the height from the frame's
pose, people are brought to the size the model learned them at (``trained_heights_m`` in
thermal.json).  The real frames are HIT-UAV test recordings (80 m), read from ../shared/data
(skipped when absent), shown as if flown at 160 m (half size)."""

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
from processing.detect.evaluate import match
from processing.detect.thermal_models import PersonDetector
from uav.cli import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HITUAV = DATA / "hit-uav"
FRAMES = ("1_80_30_0_01150.jpg", "1_80_60_0_01241.jpg", "0_80_60_0_02193.jpg")   # many people
needs_hituav = pytest.mark.skipif(not (HITUAV / "images").is_dir(),
                                  reason=f"HIT-UAV thermal frames not found at {HITUAV}")


def test_height_factor_brings_a_frame_to_the_nearest_trained_height():
    det = PersonDetector()
    assert det.trained_heights_m == (60, 130)
    f = det.height_factor
    assert f(None) == f(FrameInfo()) == f(FrameInfo(height_m=80)) == f(FrameInfo(height_m=130)) == 1.0
    assert f(FrameInfo(height_m=30)) == pytest.approx(0.5)       # people twice the trained size
    assert f(FrameInfo(height_m=195)) == pytest.approx(1.5)
    assert f(FrameInfo(height_m=900)) == 1.6                      # capped: one forward of 1024 px
    assert f(FrameInfo(height_m=-5)) == 1.0


def _thermal_jpeg(path: Path, grey: np.ndarray, height_m: float | None):
    """A single-channel JPEG (a thermal core's output) with GPS, and the flight height in DJI's
    XMP when given; a long lens (80 mm equivalent) so that a 320 px frame at 160 m is finer
    than the person limit (0.25 m/px)."""
    data = cv2.imencode(".jpg", grey)[1].tobytes()
    d = lambda v: ((int(v), 1), (int((v % 1) * 60), 1), (int(round(((v * 60) % 1) * 60 * 1000)), 1000))  # noqa: E731
    blob = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 80},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: d(43.1),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: d(131.2)}})
    segs = b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
    if height_m is not None:
        xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description drone-dji:RelativeAltitude=\""
               + str(height_m).encode() + b"\" drone-dji:GimbalYawDegree=\"0\" drone-dji:GimbalPitchDegree=\"-90\"/>"
               b"</x:xmpmeta>")
        segs += b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    path.write_bytes(data[:2] + segs + data[2:])


def _people_found(tmp_path, name: str, height_m: float | None) -> tuple[int, int, str]:
    from processing.detect.hituav import hituav_samples

    samples = {s.path.name: s for s in hituav_samples(HITUAV, "test")}
    folder = tmp_path / name
    folder.mkdir()
    labels = {}
    for fname in FRAMES:
        s = samples[fname]
        grey = cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)   # as at 160 m
        _thermal_jpeg(folder / fname, small, height_m)
        labels[fname] = s.boxes[s.labels == 0] * 0.5
    out, csv_path = tmp_path / f"{name}.gpkg", tmp_path / f"{name}.csv"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors", "person",
                                 "--workers", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    r2 = CliRunner().invoke(cli, ["export", str(out), "--to", "csv", "--per-flag", "--status", "all",
                                  "-o", str(csv_path)])
    assert r2.exit_code == 0, r2.output
    with open(csv_path, newline="") as f:
        rows = [x for x in csv.DictReader(f) if x["class"] == "person"]
    found = 0
    for fname, gt in labels.items():
        mine = [(float(x["score"]), np.array([float(x[k]) for k in ("px_x0", "px_y0", "px_x1", "px_y1")]))
                for x in rows if Path(x["frame_path"]).name == fname]
        found += sum(match(mine, gt))
    return found, sum(len(g) for g in labels.values()), r.output


@needs_hituav
def test_people_seen_from_160_m_are_found_when_the_frame_says_its_height(tmp_path):
    blind, total, _ = _people_found(tmp_path, "no-height", None)
    aware, total2, text = _people_found(tmp_path, "height-160", 160)
    assert total == total2 == 58
    assert "georeferenced: 3" in text
    assert aware > blind, (aware, blind)
