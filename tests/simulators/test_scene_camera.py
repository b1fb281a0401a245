"""The simulated camera: scene, perspective rendering, frame files and the truth file."""

from __future__ import annotations

import hashlib
import json
import math
import re

import cv2
import numpy as np
import piexif
import pytest
from shapely.geometry import LineString, Point

from simulators.camera import SimCamera
from simulators.frames import FrameCollector, FramePose, write_frame
from simulators.scene import PlantedObject, Scene
from uav.errors import InvalidInputError
from uav.geo import distance_m, offset_lonlat
from uav.profiles import get_camera

BOUNDS = (131.2000, 43.1000, 131.2040, 43.1030)  # ~325 x 333 m in the Land of the Leopard
CENTRE = (131.2020, 43.1015)
GROUND = 120.0
HEIGHT = 60.0
CAM = get_camera("mavic3e-wide")
SCALE = 0.1


def _fire_colour(bgr) -> bool:
    b, g, r = (int(v) for v in bgr)
    return r > 200 and g > 150 and r > b + 40


def _dms_to_deg(dms, ref) -> float:
    d = sum(n / den / 60 ** i for i, (n, den) in enumerate(dms))
    return -d if ref in (b"S", b"W") else d


@pytest.fixture(scope="module")
def scene() -> Scene:
    lon, lat = CENTRE
    flon, flat = offset_lonlat(lon, lat, 0.0, 20.0)  # 20 m north of the centre
    vlon, vlat = offset_lonlat(lon, lat, -60.0, -50.0)
    road = LineString([offset_lonlat(lon, lat, -170, -50), offset_lonlat(lon, lat, 170, -50)])
    return Scene(BOUNDS, seed=7, ground_alt_amsl=GROUND, road=road, objects=[
        PlantedObject("fire-1", "fire", float(flon), float(flat), 4.0),
        PlantedObject("vehicle-1", "vehicle", float(vlon), float(vlat), 4.5, heading_deg=0.0),
    ])


@pytest.fixture(scope="module")
def bare(scene) -> Scene:
    """The same landscape with nothing planted."""
    return Scene(BOUNDS, seed=7, ground_alt_amsl=GROUND, road=scene.road_lonlat)


def _gsd(scale=SCALE) -> float:
    w = round(CAM.image_width_px * scale)
    return HEIGHT * CAM.sensor_width_mm / (CAM.focal_length_mm * w)


def test_nadir_frame_shows_objects_where_truth_says(scene, bare, tmp_path):
    fire = next(o for o in scene.objects if o.kind == "fire")
    car = next(o for o in scene.objects if o.kind == "vehicle")
    with FrameCollector(tmp_path, scene, CAM, SCALE) as fc:
        p_fire = fc.on_trigger(fire.lat, fire.lon, GROUND + HEIGHT, HEIGHT, 0.0, 0.0, 0.0, 10.0, 1)
        p_car = fc.on_trigger(car.lat, car.lon, GROUND + HEIGHT, HEIGHT, 0.0, 0.0, 0.0, 12.0, 2)
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert [f["file"] for f in truth["frames"]] == [p_fire.name, p_car.name]
    assert {o["id"] for o in truth["objects"]} == {"fire-1", "vehicle-1"}

    # The fire: flame colours at the pixel the truth file gives.
    f1 = truth["frames"][0]
    entry = next(o for o in f1["objects"] if o["id"] == "fire-1")
    img = cv2.imread(str(p_fire))
    x, y = entry["center_px"]
    assert _fire_colour(img[int(y), int(x)]), img[int(y), int(x)]
    x0, y0, x1, y1 = entry["box"]
    assert x0 < x < x1 and y0 < y < y1
    # 4 m across at the nadir ground sample distance.
    assert (x1 - x0) * _gsd() == pytest.approx(4.0, rel=0.05)

    # The vehicle: the frame differs from the bare landscape at its truth pixel, and only near it.
    f2 = truth["frames"][1]
    entry = next(o for o in f2["objects"] if o["id"] == "vehicle-1")
    img = cv2.imread(str(p_car)).astype(int)
    ref = SimCamera(bare, CAM, SCALE).render(car.lat, car.lon, GROUND + HEIGHT, 0.0).astype(int)
    diff = np.abs(img - ref).sum(axis=2) > 60
    x, y = entry["center_px"]
    assert diff[int(y), int(x)]
    ys, xs = np.nonzero(diff)
    margin = 3.0 / _gsd()  # the shadow falls beside the body
    x0, y0, x1, y1 = entry["box"]
    assert xs.min() >= x0 - margin and xs.max() <= x1 + margin
    assert ys.min() >= y0 - margin and ys.max() <= y1 + margin
    # Heading north at yaw 0: the car is upright in the image, 4.5 m long.
    assert (y1 - y0) * _gsd() == pytest.approx(4.5, rel=0.05)
    assert (x1 - x0) * _gsd() == pytest.approx(1.8, rel=0.08)


@pytest.mark.parametrize("yaw, dx, dy", [(0, 0, -1), (90, -1, 0), (180, 0, 1), (270, 1, 0), (45, -0.7071, -0.7071)])
def test_yaw_turns_the_image_top_towards_the_heading(scene, yaw, dx, dy):
    """A fire 20 m north of the camera: top of the image is the camera's heading."""
    cam = SimCamera(scene, CAM, SCALE)
    lon, lat = CENTRE
    img = cam.render(lat, lon, GROUND + HEIGHT, yaw_deg=yaw)
    w, h = cam.size
    # Where it must be, from the ground sample distance alone (not from the code's homography).
    off = 20.0 / _gsd()
    ex, ey = w / 2 + dx * off, h / 2 + dy * off
    fire = scene.objects[0]
    px = cam.pixel_of(fire.lon, fire.lat)
    assert px == pytest.approx((ex, ey), abs=1.0)
    assert _fire_colour(img[int(ey), int(ex)])


def test_oblique_pitch_looks_ahead(scene):
    """At pitch -45 the image centre sees the ground one height ahead; level pitch sees sky."""
    fire = scene.objects[0]
    cam = SimCamera(scene, CAM, SCALE)
    lon, lat = offset_lonlat(fire.lon, fire.lat, 0.0, -HEIGHT)  # a height's distance south of it
    img = cam.render(float(lat), float(lon), GROUND + HEIGHT, yaw_deg=0.0, pitch_deg=-45.0)
    w, h = cam.size
    assert cam.pixel_of(fire.lon, fire.lat) == pytest.approx((w / 2, h / 2), abs=1.0)
    assert _fire_colour(img[h // 2, w // 2])
    view = cam.last_view
    back = view.ground_of(w / 2, h / 2)
    assert distance_m(back[0], back[1], fire.lon, fire.lat) < 0.1
    # Oblique: ground nearer the camera (bottom rows) is finer than at the top.
    top = view.ground_of(w / 2, 1.0)
    bottom = view.ground_of(w / 2, h - 1.0)
    assert distance_m(lon, lat, *top) > 2 * distance_m(lon, lat, *bottom)

    level = cam.render(float(lat), float(lon), GROUND + HEIGHT, yaw_deg=0.0, pitch_deg=0.0)
    sky = level[: h // 2 - 5].reshape(-1, 3).mean(axis=0)
    ground = level[h // 2 + 40:].reshape(-1, 3).mean(axis=0)
    assert sky[0] > 180 and sky[2] > 150  # bright hazy blue
    assert ground[1] > ground[2] and ground.mean() < sky.mean() - 40
    assert cam.last_view.ground_of(w / 2, 10.0) is None  # above the horizon: no ground


def test_gimbal_roll_turns_about_the_optical_axis(scene):
    """DJI applies roll last, about the optical axis: at nadir it spins the image about its centre."""
    fire = scene.objects[0]  # 20 m north of the centre
    cam = SimCamera(scene, CAM, SCALE)
    lon, lat = CENTRE
    img = cam.render(lat, lon, GROUND + HEIGHT, yaw_deg=0.0, roll_deg=30.0)
    w, h = cam.size
    off = 20.0 / _gsd()
    # Right side down: what was straight up swings towards the left.
    ex, ey = w / 2 - off * math.sin(math.radians(30)), h / 2 - off * math.cos(math.radians(30))
    assert cam.pixel_of(fire.lon, fire.lat) == pytest.approx((ex, ey), abs=1.0)
    assert _fire_colour(img[int(ey), int(ex)])


def test_exif_and_xmp_read_back(scene, tmp_path):
    lon, lat = CENTRE
    fc = FrameCollector(tmp_path, scene, CAM, 0.25)
    path = fc.on_trigger(lat, lon, GROUND + HEIGHT, HEIGHT, 250.0, 2.5, -1.5, 75.25, 7)
    fc.finish()
    data = path.read_bytes()
    exif = piexif.load(data)
    gps = exif["GPS"]
    assert _dms_to_deg(gps[piexif.GPSIFD.GPSLatitude], gps[piexif.GPSIFD.GPSLatitudeRef]) == pytest.approx(lat, abs=1e-8)
    assert _dms_to_deg(gps[piexif.GPSIFD.GPSLongitude], gps[piexif.GPSIFD.GPSLongitudeRef]) == pytest.approx(lon, abs=1e-8)
    n, d = gps[piexif.GPSIFD.GPSAltitude]
    assert n / d == pytest.approx(GROUND + HEIGHT) and gps[piexif.GPSIFD.GPSAltitudeRef] == 0
    z, e = exif["0th"], exif["Exif"]
    assert z[piexif.ImageIFD.Make] == b"amur-uav"
    assert z[piexif.ImageIFD.Model] == b"sim-mavic3e-wide"
    assert e[piexif.ExifIFD.DateTimeOriginal] == b"2024:04:20 04:01:15"
    img = cv2.imread(str(path))
    h, w = img.shape[:2]
    assert (w, h) == (1320, 989) == (e[piexif.ExifIFD.PixelXDimension], e[piexif.ExifIFD.PixelYDimension])
    # Intrinsics recoverable at the rendered size: fx = f_mm * pixels per mm of focal plane.
    f_mm = e[piexif.ExifIFD.FocalLength][0] / e[piexif.ExifIFD.FocalLength][1]
    fpx = e[piexif.ExifIFD.FocalPlaneXResolution]
    assert e[piexif.ExifIFD.FocalPlaneResolutionUnit] == 3
    fx = f_mm * fpx[0] / fpx[1] / 10.0
    assert fx == pytest.approx(fc.sim_camera.intrinsics.fx, rel=1e-5)
    assert e[piexif.ExifIFD.FocalLengthIn35mmFilm] in (24, 25)

    # XMP: its own APP1 segment with Adobe's header, DJI's namespace and tags.
    start = data.index(b"http://ns.adobe.com/xap/1.0/\x00")
    assert data[start - 4:start - 2] == b"\xff\xe1"
    xmp = data[start:start + 8000].decode("utf-8", "replace")
    assert 'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"' in xmp

    def tag(name):
        return re.search(rf'drone-dji:{name}="([^"]+)"', xmp).group(1)

    assert tag("GimbalPitchDegree") == "-90.00"
    assert tag("GimbalYawDegree") == "-110.00"  # 250 deg, written in (-180, 180] as DJI does
    assert tag("GimbalRollDegree") == "+0.00"
    assert tag("FlightYawDegree") == "-110.00"
    assert tag("FlightPitchDegree") == "+2.50"
    assert tag("FlightRollDegree") == "-1.50"
    assert tag("RelativeAltitude") == "+60.00"
    assert tag("AbsoluteAltitude") == "+180.00"
    assert float(tag("GpsLatitude")) == pytest.approx(lat, abs=1e-8)
    assert float(tag("GpsLongitude")) == pytest.approx(lon, abs=1e-8)
    assert float(tag("CalibratedFocalLength")) == pytest.approx(fx, rel=1e-5)
    assert xmp.rstrip("\x00").find('<?xpacket end="w"?>') > 0


def test_scene_is_deterministic_from_its_seed(scene):
    a = Scene.generate(BOUNDS, seed=11, ground_alt_amsl=GROUND, n_fire=1, n_smoke=1, n_vehicle=2)
    b = Scene.generate(BOUNDS, seed=11, ground_alt_amsl=GROUND, n_fire=1, n_smoke=1, n_vehicle=2)
    c = Scene.generate(BOUNDS, seed=12, ground_alt_amsl=GROUND, n_fire=1, n_smoke=1, n_vehicle=2)
    assert [o.to_dict() for o in a.objects] == [o.to_dict() for o in b.objects]
    assert [o.to_dict() for o in a.objects] != [o.to_dict() for o in c.objects]
    digest = [hashlib.sha256(s.texture.tobytes()).hexdigest() for s in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]
    assert sorted(o.kind for o in a.objects) == ["fire", "smoke", "vehicle", "vehicle"]
    # Vehicles are planted on the road, fires and smoke on land.
    road = a.road_metric
    for o in a.objects:
        x, y = a.frame.to_metric(o.lon, o.lat)
        if o.kind == "vehicle":
            assert road.distance(Point(x, y)) < 3.0
        else:
            assert a.land_cover[a._row(y), a._col(x)] != 2  # not in water

    # A scene survives JSON: the rebuilt one renders the identical frame.
    again = Scene.from_json(a.to_json())
    lon, lat = CENTRE
    one = SimCamera(a, CAM, SCALE).render(lat, lon, GROUND + 80, 30.0)
    two = SimCamera(again, CAM, SCALE).render(lat, lon, GROUND + 80, 30.0)
    assert np.array_equal(one, two)


def test_smoke_plume_drifts_downwind():
    lon, lat = CENTRE
    sc = Scene(BOUNDS, seed=3, ground_alt_amsl=0.0,
               objects=[PlantedObject("smoke-1", "smoke", lon, lat, 40.0, heading_deg=90.0)])
    bare = Scene(BOUNDS, seed=3, ground_alt_amsl=0.0)
    cam, ref = SimCamera(sc, CAM, SCALE), SimCamera(bare, CAM, SCALE)
    img = cam.render(lat, lon, 100.0, 0.0).astype(int)
    base = ref.render(lat, lon, 100.0, 0.0).astype(int)
    grey = (np.abs(img - base).sum(axis=2) > 40)
    ys, xs = np.nonzero(grey)
    w, h = cam.size
    # Drifting east (yaw 0: east is to the right), whitish, tens of metres long.
    assert xs.mean() > w / 2 + 5
    gsd = 100.0 * CAM.sensor_width_mm / (CAM.focal_length_mm * w)
    assert (xs.max() - xs.min()) * gsd > 20
    assert img[grey].mean() > base[grey].mean() + 30
    vis = cam.last_view.visible_objects()
    assert [v.id for v in vis] == ["smoke-1"] and vis[0].box[2] > w / 2 + 20 / gsd


def test_bad_inputs_say_what_is_wrong(scene, tmp_path):
    with pytest.raises(InvalidInputError, match="kind must be one of fire, smoke, vehicle"):
        PlantedObject("x", "tank", 131.2, 43.1, 5.0)
    with pytest.raises(InvalidInputError, match="size_m must be a positive"):
        PlantedObject("x", "fire", 131.2, 43.1, 0.0)
    with pytest.raises(InvalidInputError, match="outside the scene"):
        Scene(BOUNDS, objects=[PlantedObject("far", "fire", 131.3, 43.1, 3.0)])
    with pytest.raises(InvalidInputError, match="west < east"):
        Scene((131.21, 43.1, 131.2, 43.11))
    with pytest.raises(InvalidInputError, match="too small"):
        Scene((131.2, 43.1, 131.2001, 43.1001))
    with pytest.raises(InvalidInputError, match="already has an object called 'fire-1'"):
        scene.add(PlantedObject("fire-1", "fire", *CENTRE, 3.0))
    cam = SimCamera(scene, CAM, SCALE)
    with pytest.raises(InvalidInputError, match="not above the ground"):
        cam.render(CENTRE[1], CENTRE[0], GROUND - 5.0, 0.0)
    with pytest.raises(InvalidInputError, match="render scale"):
        SimCamera(scene, CAM, 3.0)
    pose = FramePose(CENTRE[1], CENTRE[0], GROUND + HEIGHT, HEIGHT, 0.0)
    with pytest.raises(InvalidInputError, match="EXIF intrinsics would be wrong"):
        write_frame(tmp_path / "x.jpg", np.zeros((10, 10, 3), np.uint8), pose, CAM, 0.0, SCALE)
    fc = FrameCollector(tmp_path, scene, CAM, SCALE)
    assert fc.on_trigger(CENTRE[1], CENTRE[0], GROUND + 0.2, 0.2, 0.0, 0.0, 0.0, 1.0, 1) is None
    assert "too low" in fc.truth()["skipped"][0]["reason"]
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        Scene.from_json("{nope")
