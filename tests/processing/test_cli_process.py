"""``uav process`` from the command line, in a real subprocess-free click run."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import cv2
import numpy as np
import piexif
from click.testing import CliRunner

from uav.cli import cli


def _frame(path, lat):
    img = np.full((120, 160, 3), 80, np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    d = lambda v: ((int(v), 1), (int((v % 1) * 60), 1), (int(round(((v * 60) % 1) * 60 * 1000)), 1000))  # noqa: E731
    blob = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 30},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: d(lat),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: d(10.5)}})
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description drone-dji:RelativeAltitude=\"60\" "
           b"drone-dji:GimbalYawDegree=\"0\" drone-dji:GimbalPitchDegree=\"-90\"/></x:xmpmeta>")
    segs = (b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
            + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp)
    Path(path).write_bytes(data[:2] + segs + data[2:])


def test_process_folder_then_resume(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        _frame(folder / f"DJI_{i:04d}.JPG", 45.0 + i * 1e-4)
    (folder / "notes.txt").write_text("not a frame")
    out = tmp_path / "flight.gpkg"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors", "none",
                                 "--workers", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "3 frame(s) processed" in r.output and "georeferenced: 3" in r.output
    con = sqlite3.connect(out)
    assert con.execute("SELECT count(*) FROM frames WHERE status='done' AND geom IS NOT NULL").fetchone()[0] == 3
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors", "none",
                                 "--workers", "0", "--quiet"])
    assert r.exit_code == 0 and "0 frame(s) processed" in r.output and "3 already done" in r.output


def test_process_errors_are_plain_messages(tmp_path):
    r = CliRunner().invoke(cli, ["process", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "f.gpkg")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = CliRunner().invoke(cli, ["process", str(tmp_path), "--out", str(tmp_path / "f.gpkg"),
                                 "--camera", "no-such-camera", "--detectors", "none"])
    assert r.exit_code == 2 and "no-such-camera" in r.output
    _frame(tmp_path / "a.jpg", 45.0)
    r = CliRunner().invoke(cli, ["process", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "g.gpkg"),
                                 "--watch"])
    assert r.exit_code == 2 and "--watch needs exactly one folder" in r.output
