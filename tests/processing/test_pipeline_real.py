"""The pipeline with the real detector registry, and Brighton's editor-rotated frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from processing.pipeline import process_frames
from processing.store import FlightStore
from uav.geo import distance_m

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BRIGHTON = DATA / "brighton"


def _fire_frame(folder: Path, name: str, lat: float, lon: float) -> str:
    """A grass-green 320x240 nadir frame, 50 m up (f35 36 mm), a flame right of centre."""
    import struct

    import piexif

    img = np.full((240, 320, 3), (40, 110, 50), np.uint8)
    cv2.circle(img, (230, 120), 14, (20, 120, 250), -1)   # orange-red flame (BGR)
    cv2.circle(img, (230, 120), 6, (80, 220, 255), -1)    # yellow core
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    def dms(v):
        d, m = int(v), int((v % 1) * 60)
        return ((d, 1), (m, 1), (int(round((v - d - m / 60) * 3600 * 10000)), 10000))

    blob = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 36},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: dms(lat),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: dms(lon),
                                piexif.GPSIFD.GPSAltitude: (250, 1)}})
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description drone-dji:RelativeAltitude=\"50\" "
           b"drone-dji:GimbalYawDegree=\"0\" drone-dji:GimbalPitchDegree=\"-90\"/></x:xmpmeta>")
    segs = (b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
            + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp)
    path = folder / name
    path.write_bytes(data[:2] + segs + data[2:])
    return str(path)


def test_registry_detector_by_name_in_worker_processes(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    paths = [_fire_frame(folder, f"f{i:02d}.jpg", 46.8 + i * 1e-4, 8.2) for i in range(2)]
    s = process_frames(paths, tmp_path / "r.gpkg", detectors=("fire-colour",), workers=2, progress=False)
    assert s.done == 2 and s.failed == 0, str(s)
    assert s.flags_by_class.get("fire", 0) >= 2, str(s)
    with FlightStore.open(tmp_path / "r.gpkg") as st:
        flags = [f for f in st.flags() if f.cls == "fire"]
        assert st.get_meta("detectors") == "fire-colour"
    for f in flags:
        assert f.detector == "fire-colour" and 0 < f.score <= 1
        # patch centre (230, 120) is 70.5 px east of the principal point: 11 m at 50/320 m/px
        assert f.lat is not None and 9.0 < distance_m(f.lon, f.lat, 8.2, f.lat) < 13.0


def test_unknown_detector_name_fails_each_frame_with_the_known_names(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    p = _fire_frame(folder, "f00.jpg", 46.8, 8.2)
    s = process_frames([p], tmp_path / "u.gpkg", detectors=("fyre",), workers=0, progress=False)
    assert s.failed == 1 and "unknown detector 'fyre'" in s.failures[0][1]
    assert "fire-colour" in s.failures[0][1]


@pytest.mark.skipif(not BRIGHTON.exists(), reason="../shared/data not present")
def test_brighton_rotated_frames_are_fixed_in_the_workers(tmp_path):
    paths = [str(p) for p in sorted(BRIGHTON.glob("DJI_00*.JPG"))[3:9]]  # 0021..0026
    s = process_frames(paths, tmp_path / "b.gpkg", detectors=("fire-colour",), workers=0,
                       reduce=8, progress=False)
    assert s.done == 6 and s.failed == 0
    assert sorted(Path(p).name for p, _ in s.yaw_fixes) == ["DJI_0024.JPG", "DJI_0025.JPG", "DJI_0026.JPG"]
    with FlightStore.open(tmp_path / "b.gpkg") as st:
        frames = {f.name: f for f in st.frames()}
    for name, f in frames.items():
        fixed = name in ("DJI_0024.JPG", "DJI_0025.JPG", "DJI_0026.JPG")
        assert bool(f.yaw_corrected) == fixed, name
        assert (abs(f.yaw - 45) < 10) if not fixed else (abs(f.yaw - 45) < 10 and "pixels rotated" in f.error)
    # beach photos with no fire: the colour baseline raises (almost) none
    assert s.flags_by_class.get("fire", 0) <= 1, str(s)


def test_edited_frame_whose_only_reference_is_damaged_keeps_its_yaw(tmp_path):
    import piexif

    folder = tmp_path / "frames"
    folder.mkdir()
    edited = _fire_frame(folder, "f00.jpg", 46.8, 8.2)
    ex = piexif.load(edited)
    ex["0th"][piexif.ImageIFD.Software] = b"Microsoft Windows Photo Viewer 6.1.7600.16385"
    piexif.insert(piexif.dump(ex), edited)
    ref = Path(_fire_frame(folder, "f01.jpg", 46.8 + 1e-4, 8.2))
    ref.write_bytes(ref.read_bytes()[:-600])  # cut short on the card
    s = process_frames([folder], tmp_path / "e.gpkg", detectors=(), workers=0, progress=False)
    assert (s.done, s.failed) == (1, 1) and s.yaw_fixes == [], str(s)
    with FlightStore.open(tmp_path / "e.gpkg") as st:
        f = {x.name: x for x in st.frames()}["f00.jpg"]
    assert f.yaw == 0 and not f.yaw_corrected
    assert "Windows Photo Viewer" in f.error and "no overlapping untouched frame" in f.error


@pytest.mark.skipif(not (DATA / "dem" / "rome-30m.tif").exists() or not (DATA / "brighton").is_dir(),
                    reason="../shared/data dem/ and brighton/ absent")
def test_a_dem_that_does_not_cover_the_frames_is_refused_per_frame(tmp_path):
    # Brighton (Minnesota) frames with a DEM of Rome: every frame says why it has no footprint,
    # instead of rays marched over nothing giving flags in the wrong place.
    frames = sorted(str(p) for p in (DATA / "brighton").glob("DJI_001*.JPG"))[:2]
    out = tmp_path / "f.gpkg"
    summary = process_frames(frames, out, dem=str(DATA / "dem" / "rome-30m.tif"), detectors=(),
                             workers=0, progress=False)
    with FlightStore.open(out) as store:
        rows = store.frames()
    assert len(rows) == 2 and summary.processed == 2
    for r in rows:
        assert r.status != "done" and r.footprint is None
        assert "outside the DEM rome-30m.tif" in r.error
