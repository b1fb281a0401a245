"""Poses and intrinsics from frames: real DJI files, and JPEGs written here with piexif."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest

from processing.frames import decode_frame, read_frame_bytes, read_metadata
from processing.poses import intrinsics_from_metadata, pose_from_metadata
from uav.errors import FrameError, PoseError
from uav.profiles import get_camera

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BRIGHTON = DATA / "brighton"
ORTHO = DATA / "orthority-odm"
needs_data = pytest.mark.skipif(not BRIGHTON.exists(), reason="../shared/data not present")


def _rat(x, den=10000):
    return (int(round(x * den)), den)


def _dms(v):
    v = abs(v)
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return ((d, 1), (m, 1), _rat(s))


def write_jpeg(path, lat=None, lon=None, alt=None, xmp: dict | None = None, size=(320, 240),
               focal=None, f35=None, make="TestCam", model="T1", exif=True):
    img = np.full((size[1], size[0], 3), 90, np.uint8)
    cv2.rectangle(img, (10, 10), (60, 40), (0, 0, 255), -1)
    ok, buf = cv2.imencode(".jpg", img)
    data = buf.tobytes()
    segs = b""
    if exif:
        zeroth = {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode()}
        ex = {piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"}
        if focal:
            ex[piexif.ExifIFD.FocalLength] = _rat(focal, 100)
        if f35:
            ex[piexif.ExifIFD.FocalLengthIn35mmFilm] = f35
        gps = {}
        if lat is not None:
            gps = {piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
                   piexif.GPSIFD.GPSLatitude: _dms(lat),
                   piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
                   piexif.GPSIFD.GPSLongitude: _dms(lon)}
            if alt is not None:
                gps[piexif.GPSIFD.GPSAltitudeRef] = 0
                gps[piexif.GPSIFD.GPSAltitude] = _rat(alt, 100)
        blob = piexif.dump({"0th": zeroth, "Exif": ex, "GPS": gps})
        segs += b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
    if xmp:
        attrs = " ".join(f'{k}="{v}"' for k, v in xmp.items())
        body = (b"http://ns.adobe.com/xap/1.0/\x00" + f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
                f'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
                f'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
                f'xmlns:Camera="http://pix4d.com/camera/1.0/" {attrs}/></rdf:RDF></x:xmpmeta>'.encode())
        segs += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    Path(path).write_bytes(data[:2] + segs + data[2:])
    return Path(path)


def test_written_jpeg_exif_gps_and_35mm(tmp_path):
    p = write_jpeg(tmp_path / "a.jpg", lat=-33.5, lon=151.25, alt=120.5, f35=24)
    meta = read_metadata(p)
    assert (meta.width, meta.height) == (320, 240) and meta.model == "T1"
    pose = pose_from_metadata(meta)
    assert pose.lat == pytest.approx(-33.5, abs=1e-7) and pose.lon == pytest.approx(151.25, abs=1e-7)
    assert pose.alt_amsl == pytest.approx(120.5) and pose.source == "exif"
    assert pose.pitch == -90 and pose.yaw is None and any("nadir assumed" in n for n in pose.notes)
    assert pose.time.year == 2024 and pose.time.hour == 10
    k = intrinsics_from_metadata(meta)
    assert k.focal_px == pytest.approx(24 / 36 * 320) and k.source == "exif FocalLengthIn35mmFilm"
    assert k.cx == pytest.approx(159.5)


def test_written_jpeg_dji_and_camera_xmp(tmp_path):
    p = write_jpeg(tmp_path / "d.jpg", lat=46.8, lon=-92.0, alt=200, focal=3.61, model="FC300S",
                   xmp={"drone-dji:GimbalYawDegree": "+45.50", "drone-dji:GimbalPitchDegree": "-60.0",
                        "drone-dji:GimbalRollDegree": "+1.0", "drone-dji:RelativeAltitude": "+40.1",
                        "drone-dji:AbsoluteAltitude": "+198.3", "drone-dji:FlightYawDegree": "44"})
    meta = read_metadata(p)
    pose = pose_from_metadata(meta)
    assert (pose.yaw, pose.pitch, pose.roll, pose.alt_rel, pose.alt_amsl, pose.flight_yaw) == (
        45.5, -60.0, 1.0, 40.1, 198.3, 44.0)
    k = intrinsics_from_metadata(meta)  # FC300S -> built-in phantom3 profile's sensor width
    assert k.focal_px == pytest.approx(3.61 / 6.17 * 320) and "phantom3-fc300s" in k.source
    k2 = intrinsics_from_metadata(meta, camera=get_camera("phantom4pro"))
    assert k2.focal_px == pytest.approx(3.61 / 13.2 * 320)
    # generic Camera: tags have pitch 0 at nadir
    p = write_jpeg(tmp_path / "c.jpg", lat=1, lon=2, xmp={"Camera:Yaw": "10", "Camera:Pitch": "5",
                                                         "Camera:Roll": "0"})
    pose = pose_from_metadata(read_metadata(p))
    assert pose.yaw == 10 and pose.pitch == -85 and "camera-xmp" in pose.source


def test_missing_exif_gps_and_corrupt(tmp_path):
    with pytest.raises(PoseError, match="no EXIF metadata"):
        pose_from_metadata(read_metadata(write_jpeg(tmp_path / "n.jpg", exif=False)))
    with pytest.raises(PoseError, match="no GPS position"):
        pose_from_metadata(read_metadata(write_jpeg(tmp_path / "g.jpg")))
    with pytest.raises(PoseError, match="0, 0"):
        pose_from_metadata(read_metadata(write_jpeg(tmp_path / "z.jpg", lat=0.0, lon=0.0)))
    with pytest.raises(FrameError, match="no focal length"):
        intrinsics_from_metadata(read_metadata(write_jpeg(tmp_path / "f.jpg", lat=1, lon=1)))
    good = write_jpeg(tmp_path / "ok.jpg", lat=1, lon=1).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(FrameError, match="cut short"):
        decode_frame(read_frame_bytes(cut), str(cut))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all" * 10)
    with pytest.raises(FrameError, match="not a JPEG, TIFF or PNG"):
        read_metadata(junk)
    with pytest.raises(FrameError, match="does not exist"):
        read_metadata(tmp_path / "missing.jpg")


@needs_data
def test_brighton_dji_xmp():
    meta = read_metadata(BRIGHTON / "DJI_0018.JPG")
    assert (meta.width, meta.height, meta.model) == (4000, 2250, "FC300S")
    pose = pose_from_metadata(meta)
    assert pose.lat == pytest.approx(46.8426, abs=1e-4) and pose.lon == pytest.approx(-91.9946, abs=1e-4)
    assert (pose.yaw, pose.pitch, pose.alt_rel, pose.alt_amsl, pose.flight_yaw) == (45.0, -89.9, 39.8, 198.31, 46.0)
    k = intrinsics_from_metadata(meta)
    assert k.focal_px == pytest.approx(3.61 / 6.17 * 4000) and k.width == 4000
    assert "Windows Photo Viewer" in read_metadata(BRIGHTON / "DJI_0024.JPG").software


@needs_data
def test_orthority_tiff_dewarp_scaled_to_stored_size():
    meta = read_metadata(ORTHO / "images" / "100_0005_0142.tif")
    pose = pose_from_metadata(meta)
    assert (pose.lat, pose.lon, pose.alt_amsl, pose.pitch, pose.yaw) == (
        24.67986947, 120.95135295, 186.44, -60.0, -2.1)
    k = intrinsics_from_metadata(meta)
    # DewarpData fx 3657.02 px at 5472 wide, stored 1368 wide
    assert k.source == "xmp DewarpData" and k.focal_px == pytest.approx(3657.02 / 4, rel=1e-6)
    assert len(k.distortion) == 5 and k.distortion[0] == pytest.approx(-0.267098)
