"""Every flag's map position carries how far it may be off (issue 21): small straight down, growing
towards the horizon, over a DEM from the DEM, stored, exported per flag and per sighting; a box
in the sky gets a bearing and a "beyond" distance instead of a position.  Real oblique DJI
frames are read in place from ../shared/data/aerial-oblique (skipped when absent)."""

from __future__ import annotations

import csv
import math
import shutil
import sqlite3
import struct
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Transformer
from rasterio.transform import from_origin

from processing.detect.base import Detection
from processing.flag_uncertainty import PoseErrors, box_uncertainty
from processing.georef import CameraModel, DemGround, FlatGround, georeference_frame
from processing.poses import Intrinsics, Pose
from processing.sightings import FlagTable, group_flags
from processing.store import FlightStore
from processing.worker import _place_flags
from uav.cli import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
OBLIQUE = DATA / "aerial-oblique"
OLD = Path(__file__).resolve().parent / "old_flights"
LAT, LON = 43.1, 131.2
W, H = 800, 600            # 24 mm (35 mm equivalent): 533 px focal length
FIRE, SKY, GRASS, SMOKE = (40, 140, 250), (230, 190, 150), (40, 110, 60), (200, 200, 200)


# --- the geometry, against hand-worked rays -------------------------------------------------------
def _analytic(h: float, dep_deg: float, slope: float, deg: float) -> float:
    """Uncertainty of the principal point's ray, for attitude errors alone, on ground rising by
    ``slope`` m/m in the direction the camera looks (0: flat): pitch moves the point along the
    look, yaw swings it sideways (roll turns the image about this very ray: no move)."""
    def hit(dep, psi):
        e = math.radians(dep)
        t = h / (math.sin(e) + slope * math.cos(psi) * math.cos(e))
        return np.array([math.sin(psi), math.cos(psi)]) * t * math.cos(e)

    p0 = hit(dep_deg, 0.0)
    pitch = max(np.linalg.norm(hit(dep_deg + s * deg, 0.0) - p0) for s in (1, -1))
    yaw = max(np.linalg.norm(hit(dep_deg, s * math.radians(deg)) - p0) for s in (1, -1))
    return math.hypot(pitch, yaw)


def _slope_dem(path: Path, epsg: int, x0: float, y0: float, base: float, slope: float) -> Path:
    """A GeoTIFF DEM in UTM: ``z = base + slope * (north - y0)`` (2 m cells, 6 km square)."""
    res, n = 2.0, 3000
    ys = y0 + n / 2 * res - (np.arange(n) + 0.5) * res
    z = (base + slope * (ys - y0))[:, None].repeat(n, 1).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs=f"EPSG:{epsg}", nodata=-9999,
                       transform=from_origin(x0 - n / 2 * res, y0 + n / 2 * res, res, res)) as ds:
        ds.write(z, 1)
    return path


@pytest.mark.parametrize("slope", [0.0, 0.15, -0.05])
def test_attitude_errors_move_the_point_as_the_rays_say_on_flat_ground_and_over_a_dem(tmp_path, slope):
    intr = Intrinsics(focal_px=1000.0, cx=499.5, cy=374.5, width=1000, height=750)
    epsg = 32652
    x0, y0 = Transformer.from_crs(4326, epsg, always_xy=True).transform(LON, LAT)
    probe = CameraModel(Pose(lat=LAT, lon=LON, alt_rel=120.0, yaw=0.0, pitch=-20.0), intr)
    pose = Pose(lat=LAT, lon=LON, alt_rel=120.0, yaw=-probe.north_bearing_deg, pitch=-20.0)  # grid north
    ground = DemGround(str(_slope_dem(tmp_path / "dem.tif", epsg, x0, y0, 300.0, slope))) if slope else FlatGround()
    cam = CameraModel(pose, intr, ground)
    box = np.array([[499.5, 374.5, 499.5, 374.5]])            # a point: no box term
    P = cam.pixel_to_world([499.5], [374.5])
    only_attitude = PoseErrors(attitude_deg=1.5, height_m=0.0, height_frac=0.0, gnss_m=0.0)
    u = box_uncertainty(cam, box, ["fire"], P, only_attitude).uncertainty_m[0]
    assert u == pytest.approx(_analytic(120.0, 20.0, slope, 1.5), abs=0.5)
    # ground rising towards the camera's view narrows it, falling away widens it
    flat = _analytic(120.0, 20.0, 0.0, 1.5)
    assert (u < flat) if slope > 0 else (u > flat) if slope < 0 else True


def test_near_nadir_flags_are_good_to_metres_and_oblique_ones_grow_with_distance():
    intr = Intrinsics(focal_px=2889.0, cx=2000.0, cy=1125.0, width=4000, height=2250)
    rows = [2200, 1600, 1125, 700, 350]
    boxes = np.array([[1980, r - 20, 2020, r + 20] for r in rows], float)
    out = {}
    for pitch in (-90.0, -20.0):
        cam = CameraModel(Pose(lat=LAT, lon=LON, alt_rel=120.0, yaw=30.0, pitch=pitch), intr)
        P = cam.pixel_to_world(boxes[:, [0, 2]].mean(1), boxes[:, [1, 3]].mean(1))
        r = np.hypot(P[:, 0] - cam.C[0], P[:, 1] - cam.C[1])
        out[pitch] = (r, box_uncertainty(cam, boxes, ["vehicle"] * len(rows), P).uncertainty_m)
    assert np.all(out[-90.0][1] < 8.0)                       # straight down: a few metres
    r, u = out[-20.0]
    assert np.all(np.diff(r) > 0) and np.all(np.diff(u) > 0)  # further up the frame: further, worse
    assert u[0] < 20.0 and u[-1] > 10 * u[0]


def test_a_smoke_plume_reaching_into_the_sky_is_unsure_far_behind_and_a_sky_box_gets_a_bearing():
    intr = Intrinsics(focal_px=1000.0, cx=499.5, cy=374.5, width=1000, height=750)
    geo = georeference_frame(Pose(lat=LAT, lon=LON, alt_rel=120.0, yaw=90.0, pitch=-15.0), intr)
    dets = [Detection("fire", 0.9, 480, 330, 520, 360, "t"),     # a fire low on a distant slope
            Detection("smoke", 0.9, 480, 120, 520, 360, "t"),    # the plume above it, top in the sky
            Detection("smoke", 0.8, 600, 20, 700, 90, "t")]      # a plume over the horizon
    fire, plume, sky = _place_flags(dets, geo, 1, None)
    assert fire.position_uncertainty_m is not None and plume.position_uncertainty_m is not None
    # the plume's base may be anywhere from its box bottom to the usable range behind
    assert plume.position_uncertainty_m > 2 * fire.position_uncertainty_m
    assert sky.lon is None and sky.position_uncertainty_m is None
    note = sky.position_note
    assert note.startswith("box centre is above the horizon") and "beyond 2,400 m" in note   # 20 x 120 m
    bearing = float(note.split("bearing ")[1].split(" deg")[0])
    assert 90.0 < bearing < 100.0                    # looking east, the box right of centre


# --- what the ranger sees: uav process + CSV ------------------------------------------------------
def _frame(path: Path, image: np.ndarray, pitch: float, height: float = 120.0) -> Path:
    """A JPEG with GPS and DJI XMP (height above take-off, gimbal looking north at ``pitch``)."""
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    d = lambda v: ((int(v), 1), (int((v % 1) * 60), 1), (int(round(((v * 60) % 1) * 60 * 1000)), 1000))  # noqa: E731
    blob = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.FocalLengthIn35mmFilm: 24},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: d(LAT),
                                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: d(LON)}})
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description "
           + f'drone-dji:RelativeAltitude="{height}" drone-dji:GimbalPitchDegree="{pitch}" '.encode()
           + b'drone-dji:GimbalYawDegree="0"/></x:xmpmeta>')
    segs = (b"\xff\xe1" + struct.pack(">H", len(blob) + 2) + blob
            + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp)
    path.write_bytes(data[:2] + segs + data[2:])
    return path


def _oblique_scene() -> np.ndarray:
    """Pitch -20 deg at 120 m with a 533 px focal length: the horizon at row ~106 and the usable
    range (2.4 km) at row ~136.  Fires near the bottom (~110 m away) and just below the far edge
    (~1.4 km), a grey plume in the sky."""
    img = np.empty((H, W, 3), np.uint8)
    img[:110] = SKY
    img[110:] = GRASS
    cv2.rectangle(img, (380, 560), (420, 580), FIRE, -1)
    cv2.rectangle(img, (380, 152), (420, 162), FIRE, -1)
    cv2.rectangle(img, (560, 20), (640, 80), SMOKE, -1)
    return img


def _process(tmp_path, name: str, frames: dict[str, tuple[np.ndarray, float]], *extra) -> list[dict]:
    folder = tmp_path / name
    folder.mkdir()
    for fname, (img, pitch) in frames.items():
        _frame(folder / fname, img, pitch)
    out, table = tmp_path / f"{name}.gpkg", tmp_path / f"{name}.csv"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors",
                                 "fire-colour,smoke-colour", "--workers", "0", "--quiet", *map(str, extra)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["export", str(out), "--to", "csv", "--per-flag", "--status", "all",
                                 "-o", str(table)])
    assert r.exit_code == 0, r.output
    with open(table, newline="") as fh:
        return list(csv.DictReader(fh))


def _by_row(rows, cls="fire"):
    return sorted((r for r in rows if r["class"] == cls), key=lambda r: -float(r["px_y0"]))


def test_the_csv_uncertainty_grows_from_the_bottom_of_an_oblique_frame_to_its_far_edge(tmp_path):
    nadir = np.full((H, W, 3), GRASS, np.uint8)
    cv2.rectangle(nadir, (380, 280), (420, 320), FIRE, -1)
    rows = _process(tmp_path, "flight", {"DJI_0001.JPG": (_oblique_scene(), -20.0), "DJI_0002.JPG": (nadir, -90.0)})
    oblique = _by_row([r for r in rows if r["frame_name"] == "DJI_0001.JPG"])
    straight = [r for r in rows if r["frame_name"] == "DJI_0002.JPG"]
    assert len(oblique) == 2 and len(straight) == 1
    near, far = (float(r["position_uncertainty_m"]) for r in oblique)
    assert near < 25.0 and far > 150.0 and far > 10 * near
    assert float(straight[0]["position_uncertainty_m"]) < 8.0    # 120 m straight down
    sky = [r for r in rows if r["class"] == "smoke"]
    assert len(sky) == 1 and sky[0]["lat"] == "" and sky[0]["position_uncertainty_m"] == ""
    assert "bearing" in sky[0]["position_note"] and "beyond" in sky[0]["position_note"]
    # each fire is a sighting of its own, carrying its flag's figure into the sightings CSV
    out = tmp_path / "sightings.csv"
    r = CliRunner().invoke(cli, ["export", str(tmp_path / "flight.gpkg"), "--to", "csv", "--status", "all",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    with open(out, newline="") as fh:
        fires = sorted(float(s["position_uncertainty_m"]) for s in csv.DictReader(fh) if s["class"] == "fire")
    assert fires == sorted(float(r["position_uncertainty_m"]) for r in [*oblique, *straight])


def test_with_a_dem_the_flag_sits_on_the_terrain_and_its_uncertainty_comes_from_it(tmp_path):
    epsg = 32652
    x0, y0 = Transformer.from_crs(4326, epsg, always_xy=True).transform(LON, LAT)
    # terrain rising 10 % northwards, towards where the camera looks: the far fire is nearer
    # than flat ground would put it, and better placed
    dem = _slope_dem(tmp_path / "ridge.tif", epsg, x0, y0, 400.0, 0.10)
    scene = {"DJI_0001.JPG": (_oblique_scene(), -20.0)}
    flat = _by_row(_process(tmp_path, "flat", scene))
    onto = _by_row(_process(tmp_path, "dem", scene, "--dem", dem))
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True).transform

    def north(r):
        return to_utm(float(r["lon"]), float(r["lat"]))[1] - y0

    assert north(onto[1]) < 0.6 * north(flat[1])
    assert float(onto[1]["position_uncertainty_m"]) < 0.5 * float(flat[1]["position_uncertainty_m"])
    # the flag lies on the DEM: the camera stood 120 m over the terrain's 400 m at its foot
    intr = Intrinsics(focal_px=W * 24 / 36, cx=(W - 1) / 2, cy=(H - 1) / 2, width=W, height=H)
    cam = CameraModel(Pose(lat=LAT, lon=LON, alt_rel=120.0, yaw=0.0, pitch=-20.0), intr, DemGround(str(dem)))
    px = [(float(onto[1][a]) + float(onto[1][b])) / 2 - 0.5 for a, b in (("px_x0", "px_x1"), ("px_y0", "px_y1"))]
    P = cam.pixel_to_world([px[0]], [px[1]])[0]
    assert north(onto[1]) == pytest.approx(P[1] - y0, abs=1.0)


# --- sightings and old files ------------------------------------------------------------------------
def test_a_sighting_leans_on_its_best_placed_flag_and_carries_its_uncertainty():
    # one smoke column seen twice: from above (± 6 m) and from far off (± 300 m), 25 m apart
    rows = [(1, 1, "smoke", 0.8, LON, LAT, 0.0, 120.0, 0.0, 0.05),
            (2, 2, "smoke", 0.7, LON + 25 / 81_000, LAT, 10.0, 120.0, 70.0, 0.3)]
    table = FlagTable.from_rows(rows)
    table.uncertainty_m = np.array([6.0, 300.0])
    s, = group_flags(table).sightings
    assert s.uncertainty_m == 6.0
    assert abs(s.lon - LON) * 81_000 < 0.1        # the far view hardly moves it


def test_an_old_geopackage_without_the_column_is_read_as_is_and_upgraded_when_written(tmp_path):
    gpkg = tmp_path / "old.gpkg"
    shutil.copy(OLD / "flight-6cccc78.gpkg", gpkg)
    before = gpkg.read_bytes()
    out = tmp_path / "old.csv"
    r = CliRunner().invoke(cli, ["export", str(gpkg), "--to", "csv", "--per-flag", "--status", "all", "-o", str(out)])
    assert r.exit_code == 0, r.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["position_uncertainty_m"] == "" for r in rows)
    assert gpkg.read_bytes() == before, "a read-only export changed the file"
    with FlightStore.open(gpkg):
        pass
    con = sqlite3.connect(gpkg)
    try:
        for table in ("flags", "sightings"):
            assert "position_uncertainty_m" in {c[1] for c in con.execute(f"PRAGMA table_info({table})")}
    finally:
        con.close()


@pytest.mark.skipif(not (OBLIQUE / "images").is_dir(), reason=f"aerial-oblique DJI frames not found at {OBLIQUE}")
def test_real_oblique_dji_frame_cars_far_off_are_placed_less_surely_than_near_ones():
    from benchmarks.oblique import _labels
    from processing.frames import read_frame_bytes, read_metadata
    from processing.poses import intrinsics_from_metadata, pose_from_metadata

    path = OBLIQUE / "images" / "DJI_0019.JPG"
    meta = read_metadata(str(path), read_frame_bytes(str(path)))
    geo = georeference_frame(pose_from_metadata(meta), intrinsics_from_metadata(meta, None, meta.width, meta.height))
    boxes = _labels(OBLIQUE / "labels" / "DJI_0019.txt", meta.width, meta.height)
    flags = _place_flags([Detection("vehicle", 0.9, *b, "label") for b in boxes.tolist()], geo, 1, None)
    placed = [f for f in flags if f.lon is not None]
    assert len(placed) >= 10
    cam = geo.camera
    x, y = cam.to_utm([f.lon for f in placed], [f.lat for f in placed])
    dist = np.hypot(np.asarray(x) - cam.C[0], np.asarray(y) - cam.C[1])
    u = np.array([f.position_uncertainty_m for f in placed])
    near, far = u[np.argmin(dist)], u[np.argmax(dist)]
    assert near < 15.0 and far > 2 * near
    rank = np.corrcoef(np.argsort(np.argsort(dist)), np.argsort(np.argsort(u)))[0, 1]
    assert rank > 0.9, (dist.round(), u)
