"""The pipeline end to end on written JPEGs: bad frames recorded, resume, no-pose flags, Dask."""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest

from processing.detect.base import Detection, Detector
from processing.pipeline import process_frames
from processing.store import FlightStore
from processing.watch import watch_folder
from uav.geo import distance_m


class RedBox(Detector):
    """Finds the pure-red rectangle the test frames carry (a stand-in 'vehicle')."""

    name = "redbox"
    classes = ("vehicle",)

    def detect(self, image, info=None):
        mask = (image[:, :, 2] > 200) & (image[:, :, 1] < 60) & (image[:, :, 0] < 60)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return []
        return [Detection("vehicle", 0.9, float(xs.min()), float(ys.min()), float(xs.max() + 1),
                          float(ys.max() + 1), detector=self.name)]


def _rat(x, den):
    return (int(round(x * den)), den)


def _dms(v):
    v = abs(v)
    d = int(v)
    m = int((v - d) * 60)
    return ((d, 1), (m, 1), _rat((v - d - m / 60) * 3600, 10000))


def frame(path, lat=None, lon=None, yaw=0.0, box=(150, 100, 170, 110), exif=True):
    """A 320x240 nadir frame, 50 m up, focal 320 px (f35 = 36 mm), red box at ``box``."""
    img = np.full((240, 320, 3), 70, np.uint8)
    img += np.random.default_rng(0).integers(0, 20, img.shape, dtype=np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = (0, 0, 255)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    segs = b""
    if exif:
        ex = {piexif.ExifIFD.FocalLengthIn35mmFilm: 36,
              piexif.ExifIFD.DateTimeOriginal: f"2024:05:01 10:00:{int(Path(path).stem[-2:]):02d}".encode()}
        gps = {}
        if lat is not None:
            gps = {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _dms(lat),
                   piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _dms(lon),
                   piexif.GPSIFD.GPSAltitude: (250, 1)}
        blob = piexif.dump({"0th": {piexif.ImageIFD.Model: b"T1"}, "Exif": ex, "GPS": gps})
        segs += b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
        xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
               b"xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
               b"xmlns:drone-dji=\"http://www.dji.com/drone-dji/1.0/\" drone-dji:RelativeAltitude=\"50\" "
               + f'drone-dji:GimbalYawDegree="{yaw}" drone-dji:GimbalPitchDegree="-90"'.encode()
               + b"/></rdf:RDF></x:xmpmeta>")
        segs += b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    Path(path).write_bytes(data[:2] + segs + data[2:])
    return str(path)


LAT, LON = 46.8, 8.2


def batch(folder: Path):
    folder.mkdir(exist_ok=True)
    good = [frame(folder / f"f{i:02d}.jpg", LAT + i * 1e-4, LON) for i in range(3)]
    noexif = frame(folder / "f03.jpg", exif=False)
    bad = folder / "f04.jpg"
    bad.write_bytes(Path(good[0]).read_bytes()[:3000])  # cut short on the card
    return good, noexif, str(bad)


def test_batch_with_bad_frames_goes_on_and_resumes(tmp_path):
    good, noexif, bad = batch(tmp_path / "frames")
    out = tmp_path / "flight.gpkg"
    seen = []
    s = process_frames([tmp_path / "frames"], out, detectors=[RedBox()], workers=0, progress=False,
                       on_flag=lambda f, fr: seen.append((f.cls, fr.name)))
    assert (s.frames, s.done, s.no_pose, s.failed) == (5, 3, 1, 1)
    assert s.flags_by_class == {"vehicle": 4}  # the no-EXIF frame is searched too
    assert s.failures[0][0] == bad and "cut short" in s.failures[0][1]
    assert sorted(seen) == [("vehicle", "f00.jpg"), ("vehicle", "f01.jpg"), ("vehicle", "f02.jpg"),
                            ("vehicle", "f03.jpg")]
    assert "failed: 1" in str(s) and "vehicle 4" in str(s)
    with FlightStore.open(out) as st:
        frames = {f.name: f for f in st.frames()}
        assert frames["f04.jpg"].status == "failed" and frames["f04.jpg"].sha256
        nf = frames["f03.jpg"]
        assert nf.status == "no_pose" and nf.footprint is None and "no EXIF" in nf.error
        import hashlib

        assert frames["f00.jpg"].sha256 == hashlib.sha256(Path(good[0]).read_bytes()).hexdigest()
        assert frames["f00.jpg"].gsd_m == pytest.approx(50 / 320, rel=1e-3)
        flags = {st.frame(f.frame_fid).name: f for f in st.flags()}
        nof = flags["f03.jpg"]
        assert (nof.lat, nof.lon) == (None, None) and "no EXIF" in nof.position_note
        assert (nof.px_x0, nof.px_y0, nof.px_x1, nof.px_y1) == (150, 100, 170, 110)
        f0 = flags["f00.jpg"]
        # box edges 150..170 x 100..110 cover pixel centres 150..169, 100..109: centre
        # (159.5, 104.5), 15 px above the principal point (159.5, 119.5); at 50/320 m per px
        # and yaw 0 that is 2.34 m due north of the camera
        assert distance_m(f0.lon, f0.lat, LON, LAT) == pytest.approx(15 * 50 / 320, abs=0.02)
        assert f0.lat > LAT and f0.ground_size_m == pytest.approx(20 * 50 / 320, rel=0.02)
        assert f0.size_ok is True  # 3.1 m vehicle
    # resume: nothing done twice; the failed frame, now repaired, is retried
    frame(tmp_path / "frames" / "f04.jpg", LAT + 4e-4, LON)
    s2 = process_frames([tmp_path / "frames"], out, detectors=[RedBox()], workers=0, progress=False)
    assert (s2.skipped, s2.done, s2.failed) == (4, 1, 0)
    con = sqlite3.connect(out)
    assert con.execute("SELECT count(*) FROM frames").fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM flags").fetchone()[0] == 5


def test_process_pool_and_no_detectors(tmp_path):
    good, _, _ = batch(tmp_path / "frames")
    s = process_frames(good, tmp_path / "p.gpkg", detectors=[RedBox()], workers=2, progress=False)
    assert s.done == 3 and s.flags_by_class == {"vehicle": 3}
    s = process_frames(good, tmp_path / "n.gpkg", detectors=(), workers=0, progress=False)
    assert s.done == 3 and s.flags_by_class == {}


def test_implausible_size_is_flagged(tmp_path):
    p = frame(tmp_path / "f00.jpg", LAT, LON, box=(20, 20, 300, 220))  # 44 m "vehicle"
    process_frames([p], tmp_path / "s.gpkg", detectors=[RedBox()], workers=0, progress=False)
    with FlightStore.open(tmp_path / "s.gpkg") as st:
        (flag,) = st.flags()
        assert flag.size_ok is False and flag.ground_size_m > 40


@pytest.mark.slow
def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    good, noexif, bad = batch(tmp_path / "frames")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        s = process_frames([tmp_path / "frames"], tmp_path / "d.gpkg", detectors=[RedBox()],
                           dask_address=client, progress=False)
    assert (s.done, s.no_pose, s.failed) == (3, 1, 1) and s.flags_by_class == {"vehicle": 4}


def test_watch_folder_processes_new_frames_and_prints_flags(tmp_path):
    """Frames arrive one by one while the watch runs; each one's flag is printed before the
    next arrives (alerts during the flight, not after it), then the watch is stopped."""
    folder = tmp_path / "card"
    folder.mkdir()
    frame(folder / "f00.jpg", LAT, LON)
    lines = []
    deadline = time.monotonic() + 60  # the watch stops by itself even if something is wrong
    arrived = []

    def flags_seen():
        return sum(line.startswith("FLAG vehicle") for line in lines)

    def card_reader():
        for k in range(1, 4):
            while flags_seen() < k and time.monotonic() < deadline:
                time.sleep(0.05)  # the previous frame's alert must come first
            arrived.append(flags_seen())
            frame(folder / f"f{k:02d}.jpg", LAT + k * 1e-4, LON)

    t = threading.Thread(target=card_reader)
    t.start()
    from processing.progress import Progress

    # as `uav process --watch --progress-every 0` counts: one count over every batch
    progress = Progress(every_s=0, echo=lines.append, bar=False)
    s = watch_folder(folder, tmp_path / "w.gpkg", poll_s=0.1, settle_s=0.2,
                     stop=lambda: flags_seen() >= 4 or time.monotonic() > deadline,
                     echo=lines.append, detectors=[RedBox()], workers=0, progress=progress)
    t.join()
    said = [line for line in lines if line.startswith("progress:")]
    assert [p.split(" frames")[0] for p in said] == [f"progress: {k} of {k}" for k in range(1, 5)]
    assert all("(0 failed)" in p and "1 worker" in p for p in said), said
    flags = [line for line in lines if line.startswith("FLAG vehicle")]
    assert arrived == [1, 2, 3]  # each frame arrived only after the one before had its alert
    assert [f.split(" in ")[-1] for f in flags] == ["f00.jpg", "f01.jpg", "f02.jpg", "f03.jpg"]
    assert f"{LAT + 3e-4:.3f}" in flags[3]
    assert s.done == 4 and s.failed == 0
    with FlightStore.open(tmp_path / "w.gpkg") as st:
        assert len(st.flags()) == 4


def test_unreadable_telemetry_falls_back_to_frame_tags(tmp_path):
    good, _, _ = batch(tmp_path / "frames")
    junk = tmp_path / "junk.tlog"
    junk.write_bytes(b"\x00garbage" * 200)
    s = process_frames(good, tmp_path / "t.gpkg", telemetry=str(junk), detectors=(), workers=0,
                       progress=False)
    assert s.done == 3 and s.failed == 0
    with FlightStore.open(tmp_path / "t.gpkg") as st:
        for f in st.frames():
            assert f.pose_source == "exif" and "telemetry unusable" in f.error


def test_geotiff_and_quicklook(tmp_path):
    import rasterio
    from pyproj import Transformer

    from processing.mosaic import quicklook

    good, _, _ = batch(tmp_path / "frames")
    out = tmp_path / "g.gpkg"
    s = process_frames(good, out, detectors=[RedBox()], workers=0, progress=False, geotiff=True)
    assert s.done == 3
    tif = tmp_path / "g_geotiff" / "f00.tif"
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 32632 and ds.nodata == 0 and ds.count == 3
        assert abs(ds.res[0] - 50 / 320) < 1e-6
        r, g, b = ds.read(1), ds.read(2), ds.read(3)
        valid = r > 0
        assert valid.mean() > 0.95  # nadir frame fills its own footprint's bounds
        red = (r > 200) & (g < 60) & (b < 60)
        rows, cols = np.nonzero(red)
        x, y = ds.xy(rows.mean(), cols.mean())
    with FlightStore.open(out) as st:
        f0 = [f for f in st.flags() if f.frame_path == good[0]][0]
    fx, fy = Transformer.from_crs(4326, 32632, always_xy=True).transform(f0.lon, f0.lat)
    assert np.hypot(x - fx, y - fy) < 0.3  # the red box sits where its flag says
    info = quicklook(out, tmp_path / "ql.png", tmp_path / "ql.tif", max_px=400)
    assert info["frames"] == 3 and info["epsg"] == 32632
    img = cv2.imread(str(tmp_path / "ql.png"))
    assert img.shape[0] <= 401 and img.shape[1] <= 401 and (img > 0).any()


def test_a_run_is_asked_with_one_request_and_a_misspelt_option_is_named(tmp_path):
    from processing import ProcessRequest
    from uav.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown processing option.*detectorz"):
        process_frames([tmp_path], tmp_path / "x.gpkg", detectorz=("fire",))
    with pytest.raises(InvalidInputError, match="either a ProcessRequest or options"):
        process_frames([tmp_path], tmp_path / "x.gpkg", ProcessRequest(), workers=0)
    with pytest.raises(InvalidInputError, match="needs --dask"):
        ProcessRequest(ship_frames=True)
    assert not (tmp_path / "x.gpkg").exists()
