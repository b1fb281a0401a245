"""Terrain following from DEM GeoTIFFs: a synthetic hill written here, and real SRTM data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from plangeo_helpers import LAT0, LON0, poly
from rasterio.transform import from_origin

from missions.model import AltitudeMode
from missions.survey import plan_survey
from missions.terrain import Dem, limit_gradients
from missions.validate import validate_plan
from uav.errors import PlanningError
from uav.geo import LocalFrame
from uav.items import Cmd, Frame
from uav.profiles import CAMERAS, AircraftProfile

CAM = CAMERAS["mavic3e-wide"]
AC = AircraftProfile("terrain-test", endurance_s=4 * 3600, climb_rate_ms=2.5, descent_rate_ms=1.5)
COBB = Path(__file__).resolve().parents[3] / "shared" / "data" / "dem" / "cobb-30m.tif"
RES = 0.0002  # degrees, ~16-22 m


def write_dem(path, fn, west=LON0 - 0.02, north=LAT0 + 0.03, n=300):
    lon = west + (np.arange(n) + 0.5) * RES
    lat = north - (np.arange(n) + 0.5) * RES
    LON, LAT = np.meshgrid(lon, lat)
    z = fn(LON, LAT).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(west, north, RES, RES), nodata=-9999) as dst:
        dst.write(z, 1)
    return path


def hill(LON, LAT):
    # 150 m ground with an 80 m hill centred 300 m east, 300 m north of the origin.
    f = LocalFrame.around(LON0, LAT0)
    x, y = f.to_metric(LON, LAT)
    x0, y0 = f.to_metric(LON0, LAT0)
    return 150 + 80 * np.exp(-(((x - x0 - 300) ** 2 + (y - y0 - 300) ** 2) / (2 * 150.0 ** 2)))


@pytest.fixture(scope="module")
def hill_dem(tmp_path_factory):
    return write_dem(tmp_path_factory.mktemp("dem") / "hill.tif", hill)


def path_agl(mission, dem, home_alt):
    """Height above ground along every flown segment between waypoints, sampled every 5 m."""
    pts = [(it.lon, it.lat, it.alt) for it in mission.items[3:] if it.command == Cmd.NAV_WAYPOINT]
    f = LocalFrame.around(pts[0][0], pts[0][1])
    out = []
    for (lo1, la1, z1), (lo2, la2, z2) in zip(pts, pts[1:]):
        a = np.array(f.to_metric(lo1, la1))
        b = np.array(f.to_metric(lo2, la2))
        n = max(2, int(np.hypot(*(b - a)) / 5) + 1)
        t = np.linspace(0, 1, n)
        xy = a + t[:, None] * (b - a)
        lon, lat = f.to_lonlat(xy[:, 0], xy[:, 1])
        out.append(z1 + t * (z2 - z1) - dem.sample(lon, lat))
    return np.concatenate(out), pts, f


def test_dem_sampling_is_bilinear_and_exact_on_a_plane(tmp_path):
    path = write_dem(tmp_path / "plane.tif", lambda lon, lat: 100 + 1000 * (lon - LON0) + 2000 * (lat - LAT0))
    dem = Dem(path)
    lon = LON0 + np.array([0.0, 0.0031, -0.0117])
    lat = LAT0 + np.array([0.0, 0.0042, 0.0203])
    assert dem.sample(lon, lat) == pytest.approx(100 + 1000 * (lon - LON0) + 2000 * (lat - LAT0), abs=1e-3)
    assert 14 < dem.res_m < 23
    with pytest.raises(PlanningError, match=r"has no height at lat 44\.000000"):
        dem.sample([LON0], [44.0])


def test_terrain_following_keeps_height_and_gradients(hill_dem):
    sector = poly([(0, 0), (600, 0), (600, 600), (0, 600)])
    plan = plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=60, dem_path=hill_dem,
                       terrain_follow=True, angle_deg=90, max_items=5000)
    flat = plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=60, angle_deg=90, max_items=5000)
    assert plan.altitude_mode == AltitudeMode.TERRAIN and plan.settings["altitude_mode"] == "terrain"
    dem = Dem(hill_dem)
    home = plan.mission.items[0]
    assert home.alt == pytest.approx(float(dem.sample(home.lon, home.lat)[0]), abs=0.01)
    wps = [it for it in plan.mission.items[3:] if it.command == Cmd.NAV_WAYPOINT]
    assert all(it.frame == Frame.GLOBAL_INT for it in wps)
    # Extra waypoints where the ground changes.
    n_flat = sum(it.command == Cmd.NAV_WAYPOINT for it in flat.mission.items)
    assert len(wps) > n_flat + 10
    agl, pts, f = path_agl(plan.mission, dem, home.alt)
    assert agl.min() >= 60 - 5.0 - 1.0, "flies lower than the terrain tolerance allows"
    assert np.median(agl) == pytest.approx(60, abs=6)
    xy = np.array([f.to_metric(lo, la) for lo, la, _ in pts])
    run = np.hypot(*np.diff(xy, axis=0).T)
    rise = np.diff([z for *_, z in pts])
    moving = run > 1.0
    grad = rise[moving] / run[moving]
    speed = plan.mission.items[2].param2
    assert grad.max() <= AC.climb_rate_ms / speed + 0.02
    assert grad.min() >= -AC.descent_rate_ms / speed - 0.02
    assert validate_plan(plan, raise_on_error=False) == []


def test_limit_gradients_only_raises():
    s = np.arange(0, 1000, 10.0)
    z = np.where((s > 400) & (s < 500), 200.0, 100.0)  # a 100 m wall
    out = limit_gradients(s, z, 0.25, 0.15)
    assert np.all(out >= z)
    g = np.diff(out) / np.diff(s)
    assert g.max() <= 0.25 + 1e-9 and g.min() >= -0.15 - 1e-9


def test_terrain_errors(tmp_path, hill_dem):
    sector = poly([(0, 0), (300, 0), (300, 300), (0, 300)])
    with pytest.raises(PlanningError, match="terrain-following needs a DEM"):
        plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=60, terrain_follow=True)
    far = poly([(50000, 0), (50300, 0), (50300, 300), (50000, 300)])
    with pytest.raises(PlanningError, match="has no height at lat"):
        plan_survey(far, camera=CAM, aircraft=AC, altitude_m=60, dem_path=hill_dem, terrain_follow=True)
    with pytest.raises(PlanningError, match="cannot read DEM"):
        plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=60, dem_path=tmp_path / "missing.tif",
                    terrain_follow=True)
    with pytest.raises(PlanningError, match="altitude mode must be one of"):
        plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=60, altitude_mode="agl")


@pytest.mark.skipif(not COBB.exists(), reason="real SRTM DEM ../shared/data/dem/cobb-30m.tif not present")
def test_terrain_following_over_real_srtm():
    f = LocalFrame.around(-84.55, 33.9)
    x0, y0 = f.to_metric(-84.55, 33.9)
    from shapely.geometry import Polygon

    sector = Polygon([f.to_lonlat(x0 + x, y0 + y) for x, y in [(0, 0), (700, 0), (700, 500), (0, 500)]])
    plan = plan_survey(sector, camera=CAM, aircraft=AC, altitude_m=70, dem_path=COBB, terrain_follow=True,
                       max_items=5000)
    dem = Dem(COBB)
    agl, _, _ = path_agl(plan.mission, dem, plan.mission.items[0].alt)
    assert agl.min() >= 70 - 6.0
    assert np.median(agl) == pytest.approx(70, abs=10)
    assert 150 < plan.mission.items[0].alt < 560  # the DEM's range, 161-552 m
