"""The kernel: geodesy, profiles, mission items, and the rule that it stands alone."""

import ast
import json
import math
from pathlib import Path

import pytest
import shapely

from uav import errors
from uav.geo import LocalFrame, distance_m, geodesic_area_m2, offset_lonlat, parse_latlon, utm_epsg
from uav.items import Cmd, Frame, Home, Mission, MissionItem, command_name
from uav.profiles import CAMERAS, get_aircraft, get_camera, load_profiles

ROOT = Path(__file__).resolve().parents[1]


def test_kernel_imports_nothing_from_other_packages():
    offenders = []
    for path in (ROOT / "uav").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "uav").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in {"missions", "processing", "simulators"}:
                    offenders.append(f"{path.relative_to(ROOT)} imports {n}")
    assert offenders == []


def test_utm_zone_for_the_park():
    assert utm_epsg(131.2, 43.1) == 32652  # Land of the Leopard, zone 52N
    assert utm_epsg(-91.99, 46.84) == 32615  # Brighton beach data
    assert utm_epsg(151.2, -33.9) == 32756
    with pytest.raises(errors.InvalidInputError):
        utm_epsg(200, 43)


def test_local_frame_round_trip_and_metric_distances():
    frame = LocalFrame.around(131.2, 43.1)
    x, y = frame.to_metric(131.2, 43.1)
    lon, lat = frame.to_lonlat(x + 1000.0, y)
    # 1 km east in UTM is 1 km on the ellipsoid to within the zone's scale error (< 0.1%)
    assert distance_m(131.2, 43.1, lon, lat) == pytest.approx(1000.0, rel=1e-3)
    square = shapely.box(x, y, x + 1000, y + 1000)
    back = frame.geom_to_lonlat(square)
    assert geodesic_area_m2(back) == pytest.approx(1e6, rel=2e-3)
    again = frame.geom_to_metric(back)
    assert again.equals_exact(square, tolerance=1e-6)


def test_offset_matches_distance():
    lon, lat = offset_lonlat(131.2, 43.1, 300.0, 400.0)
    assert distance_m(131.2, 43.1, lon, lat) == pytest.approx(500.0, abs=1e-6)


def test_parse_latlon_refuses_swapped_order():
    assert parse_latlon("43.1,131.2,10") == (43.1, 131.2, 10.0)
    with pytest.raises(errors.InvalidInputError, match="latitude first"):
        parse_latlon("131.2,43.1")
    with pytest.raises(errors.InvalidInputError, match="LAT,LON"):
        parse_latlon("forty,two")


def test_camera_presets_are_real_and_gsd_formula_holds():
    for name in ("phantom4pro", "mavic3e-wide", "m3t-thermal", "flir-vue-pro-640-13mm"):
        assert name in CAMERAS
    assert len(CAMERAS) >= 6
    p4 = get_camera("phantom4pro")
    # DJI quotes 2.74 cm/px at 100 m for the Phantom 4 Pro
    assert p4.gsd_m(100) * 100 == pytest.approx(2.74, abs=0.01)
    assert p4.altitude_for_gsd(p4.gsd_m(80)) == pytest.approx(80)
    w, h = p4.footprint_m(100)
    assert w == pytest.approx(150.0) and h == pytest.approx(100.0)
    assert p4.hfov_deg == pytest.approx(2 * math.degrees(math.atan(6.6 / 8.8)))
    assert get_camera("m3t-thermal").thermal


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(errors.ProfileError, match="phantom4pro"):
        get_camera("phantom5")
    with pytest.raises(errors.ProfileError, match="arducopter-quad"):
        get_aircraft("jumbo")


def test_user_profiles_from_toml_and_json(tmp_path):
    toml = tmp_path / "fleet.toml"
    toml.write_text(
        '[camera.ranger-cam]\nbase = "phantom4pro"\nfocal_length_mm = 10.0\n'
        '[aircraft.team3]\ncruise_speed_ms = 8\nmax_speed_ms = 12\nendurance_s = 1500\n'
    )
    cam = get_camera("ranger-cam", toml)
    assert cam.focal_length_mm == 10.0 and cam.image_width_px == 5472
    assert get_aircraft("team3", toml).usable_endurance_s == pytest.approx(1500 * 0.75)
    js = tmp_path / "fleet.json"
    js.write_text(json.dumps({"camera": {"c": {"sensor_width_mm": 6, "sensor_height_mm": 4,
                                               "focal_length_mm": 4, "image_width_px": 600,
                                               "image_height_px": 400}}}))
    cams, _ = load_profiles(js)
    assert cams["c"].gsd_m(100) == pytest.approx(0.25)


def test_bad_profiles_name_the_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera.x]\nsensor_width_mm = -1\nsensor_height_mm = 4\nfocal_length_mm = 4\n"
                   "image_width_px = 600\nimage_height_px = 400\n")
    with pytest.raises(errors.ProfileError, match="sensor_width_mm must be positive"):
        load_profiles(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[aircraft.y]\ncruise_sped_ms = 8\n")
    with pytest.raises(errors.ProfileError, match="cruise_sped_ms"):
        load_profiles(typo)
    broken = tmp_path / "broken.toml"
    broken.write_text("[camera.x\n")
    with pytest.raises(errors.ProfileError, match="not valid TOML"):
        load_profiles(broken)


def test_mission_items_name_their_commands():
    home = Home(43.1, 131.2, 50.0)
    m = Mission(items=[home.as_item(), MissionItem(Cmd.NAV_TAKEOFF, alt=40)])
    assert m.home == home
    assert m.items[0].frame == Frame.GLOBAL
    assert command_name(Cmd.DO_SET_CAM_TRIGG_DIST) == "MAV_CMD_DO_SET_CAM_TRIGG_DIST"
    assert "NAV_TAKEOFF" in m.items[1].describe()


def test_errors_inherit_matching_builtins():
    assert issubclass(errors.InvalidSectorError, ValueError)
    assert issubclass(errors.MissionUploadError, RuntimeError)
    assert issubclass(errors.LinkTimeoutError, TimeoutError)
    assert issubclass(errors.SitlNotFoundError, FileNotFoundError)


def test_meridian_convergence_is_vectorised_and_matches_a_step_north():
    import numpy as np

    f = LocalFrame.around(131.2, 43.1)  # zone 52N, central meridian 129 E
    lon = np.array([129.0, 131.2, 133.5])
    lat = np.array([43.1, 43.1, 43.1])
    north, scale = f.north_and_scale(lon, lat)
    for k in range(3):  # the bearing of a 10 m step north, measured in the grid
        x, y = f.to_metric([lon[k], lon[k]], [lat[k], lat[k] + 1e-4])
        assert north[k] == pytest.approx(math.degrees(math.atan2(x[1] - x[0], y[1] - y[0])), abs=1e-4)
    assert north[0] == pytest.approx(0.0, abs=1e-9) and north[1] < -1.0  # east of the meridian
    assert scale[0] == pytest.approx(0.9996, abs=1e-6) and scale[2] > 1.0


def test_tangent_plane_round_trips_and_measures_true_metres():
    from uav.geo import TangentPlane

    p = TangentPlane(131.2, 43.1)
    e, n = p.to_metric(131.21, 43.11)
    assert math.hypot(e, n) == pytest.approx(float(distance_m(131.2, 43.1, 131.21, 43.11)), rel=2e-4)
    lon, lat = p.to_lonlat(e, n)
    assert (lon, lat) == (pytest.approx(131.21, abs=1e-12), pytest.approx(43.11, abs=1e-12))
    assert p.latlon_at(n, e) == (pytest.approx(43.11, abs=1e-12), pytest.approx(131.21, abs=1e-12))


def test_one_dem_reader_for_planning_and_georeferencing(tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from uav.dem import ElevationModel, load_dem

    path = tmp_path / "dem.tif"
    z = np.arange(12, dtype="float32").reshape(3, 4) * 10.0
    z[2, 3] = -9999
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32",
                       crs="EPSG:32652", transform=from_origin(500000, 4770000, 30, 30),
                       nodata=-9999) as ds:
        ds.write(z, 1)
    dem = ElevationModel(path, error=errors.PlanningError)
    assert dem.res_m == 30.0 and (dem.zmin, dem.zmax) == (0.0, 100.0)
    # cell centres, a midpoint (bilinear), beyond the edge and the no-data corner
    h = dem.heights_at([500015, 500030, 500200, 500105], [4769985, 4769985, 4769985, 4769925],
                       crs=32652)
    assert h[:2].tolist() == [0.0, 5.0] and np.isnan(h[2]) and np.isnan(h[3])
    assert load_dem(path) is load_dem(str(path))  # loaded once, shared
    with pytest.raises(errors.GeoreferenceError, match="cannot read DEM .*does not exist"):
        ElevationModel(tmp_path / "none.tif", error=errors.GeoreferenceError)


def test_vehicle_limits_are_defined_once():
    from uav.limits import ARDUPILOT, VehicleLimits

    assert (ARDUPILOT.max_items, ARDUPILOT.max_fence_points) == (650, 60)
    assert VehicleLimits.of_settings({"max_items": 5000}) == VehicleLimits(5000, 60)
    assert VehicleLimits.of_settings(None) == ARDUPILOT
    offenders = [p.relative_to(ROOT).as_posix() for pkg in ("uav", "missions", "simulators")
                 for p in (ROOT / pkg).rglob("*.py")
                 if p.name != "limits.py" and "= 650" in p.read_text(encoding="utf-8")]
    assert offenders == []
