"""Every mission file `uav plan` writes, read by its own reader: ``.plan`` by the rules
QGroundControl's loader applies, ``.waypoints`` by pymavlink's MAVWPLoader (what MAVProxy and
Mission Planner-style tools load with), KML/KMZ by GDAL's KML and LIBKML drivers, GeoJSON by
GDAL plus RFC 7946, DJI route KMZs by GDAL's LIBKML (the spec rules: tests/missions/test_wpml.py).

The OGC KML 2.2 XML schema is not checked: Debian ships no copy of it (libkml-dev and
libkmlxsd1 carry the schema parser, not ogckml22.xsd) and the tests run offline.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from own_readers import needs_gdal, ogr_layers, ogrinfo
from pymavlink import mavwp
from qgc_plan_rules import plan_problems
from rfc7946 import rfc7946_problems

from missions.formats.qgc_plan import read_plan
from uav.cli import cli

DATA = Path(__file__).resolve().parents[2] / "missions" / "data"
PARK = (130.5, 42.5, 132.0, 43.6)   # lon0, lat0, lon1, lat1 around the sample sectors


def _uav(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Path]:
    """README's ranger plans: a survey with an exclusion zone and a rally point, a thermal
    corridor, salt-lick lookouts, a perimeter (each also written one file per sortie)."""
    d = tmp_path_factory.mktemp("plans")
    _uav("plan", "survey", DATA / "park_sectors.geojson", "--sector-name", "Sector 7",
         "--exclude", DATA / "exclusions.geojson", "--camera", "mavic3e-wide", "--alt", 100,
         "--aircraft", "mavic3e", "--rally", "43.10,131.25,30", "-o", d / "sector7.plan")
    _uav("plan", "corridor", DATA / "road_a189.geojson", "--width", 100, "--camera", "m3t-thermal",
         "--alt", 120, "--aircraft", "mavic3t", "-o", d / "a189.plan")
    _uav("plan", "lookout", DATA / "salt_licks.geojson", "--radius", 40, "--time", 120, "--alt", 50,
         "--aircraft", "mavic3e", "-o", d / "licks.plan")
    _uav("plan", "perimeter", DATA / "park_sectors.geojson", "--sector-name", "Sector 7", "--inset", 30,
         "--alt", 60, "-o", d / "edge.plan")
    return {p.stem: p for p in sorted(d.glob("*.plan"))}


# --- .plan: QGroundControl's loader rules ---------------------------------------------------------
def test_every_plan_file_loads_whole_by_qgroundcontrols_rules(plans):
    assert {"sector7", "sector7-sortie1", "a189", "licks", "edge"} <= set(plans)
    for name, path in plans.items():
        assert plan_problems(path) == [], name
    doc = json.loads(plans["sector7"].read_text())
    # what a silent drop would lose: the fence (inclusion + exclusion) and the rally point
    assert {p["inclusion"] for p in doc["geoFence"]["polygons"]} == {True, False}
    assert doc["rallyPoints"]["points"] == [[43.10, 131.25, 30]]


@pytest.mark.parametrize("breakage, problem", [
    (lambda d: d.update(fileType="Mission"), "fileType is 'Mission'"),
    (lambda d: d.pop("groundStation"), "key 'groundStation' is missing"),
    (lambda d: d.update(version=2), "version 2; QGroundControl reads version 1"),
    (lambda d: d["geoFence"].update(version=1), "silently ignores the whole fence"),
    (lambda d: d["rallyPoints"].update(version=1), "silently ignores the rally points"),
    (lambda d: d["mission"]["items"][0]["params"].pop(), "params must hold 7 values"),
    (lambda d: d["mission"]["items"][0].update(autoContinue=1), "'autoContinue' must be a JSON bool"),
    (lambda d: d["mission"].pop("plannedHomePosition"), "'plannedHomePosition' is missing"),
    (lambda d: d["geoFence"]["polygons"][0]["polygon"][0].reverse(), "is not a latitude, longitude pair"),
])
def test_the_rules_refuse_what_qgroundcontrol_refuses(plans, tmp_path, breakage, problem):
    doc = copy.deepcopy(json.loads(plans["sector7"].read_text()))
    breakage(doc)
    bad = tmp_path / "bad.plan"
    bad.write_text(json.dumps(doc))
    assert any(problem in p for p in plan_problems(bad)), plan_problems(bad)


# --- .waypoints: pymavlink's own loader ---------------------------------------------------------
def test_waypoints_load_in_pymavlink_as_the_plan_holds_them(plans, tmp_path):
    _uav("plan", "export", plans["sector7"], "--to", "waypoints", "-o", tmp_path / "s7.waypoints")
    plan = read_plan(plans["sector7"])
    files = sorted(tmp_path.glob("s7-sortie*.waypoints"))
    assert len(files) == len(plan.sorties) > 1
    for path, sortie in zip(files, plan.sorties, strict=True):
        loader = mavwp.MAVWPLoader()
        assert loader.load(str(path)) == len(sortie.items)
        home = loader.wp(0)
        assert (home.x, home.y) == pytest.approx((sortie.items[0].lat, sortie.items[0].lon), abs=1e-8)
        for seq, item in enumerate(sortie.items[1:], start=1):
            wp = loader.wp(seq)
            assert (wp.seq, wp.command, wp.frame) == (seq, item.command, item.frame), (path.name, seq)
            if item.lat is not None and item.lat == item.lat:   # NaN: no position
                assert (wp.x, wp.y) == pytest.approx((item.lat, item.lon), abs=1e-8)


# --- KML / KMZ: GDAL's KML and LIBKML drivers ---------------------------------------------------
@needs_gdal
def test_kml_and_kmz_open_in_both_gdal_kml_drivers(plans, tmp_path):
    kml, kmz = tmp_path / "s7.kml", tmp_path / "s7.kmz"
    _uav("plan", "export", plans["sector7"], "--to", "kml", "-o", kml)
    _uav("plan", "export", plans["sector7"], "--to", "kmz", "-o", kmz)
    for driver, path in (("KML", kml), ("LIBKML", kml), ("LIBKML", kmz), ("KML", f"/vsizip/{kmz}/doc.kml")):
        verdict = ogrinfo(path, "-so", "-al", driver=driver)
        assert verdict.ok and "ERROR" not in verdict.output, verdict
        assert f"using driver `{driver}' successful" in verdict.output, verdict
    layers = ogr_layers(kml)
    assert {"Areas", "Geofence", "Rally points", "Flight", "Imaging legs"} <= set(layers)
    assert layers["Rally points"]["features"] == 1
    # lon/lat order: the rally point reads back where it was planned
    rally = ogrinfo(kml, layer="Rally points").output
    assert "POINT Z (131.25 43.1" in rally, rally


# --- GeoJSON: GDAL, and RFC 7946 ----------------------------------------------------------------
@needs_gdal
def test_geojson_opens_in_gdal_and_keeps_rfc7946(plans, tmp_path):
    gj = tmp_path / "s7.geojson"
    _uav("plan", "export", plans["sector7"], "--to", "geojson", "-o", gj)
    verdict = ogrinfo(gj, "-so", "-al")
    assert verdict.ok and "ERROR" not in verdict.output, verdict
    doc = json.loads(gj.read_text())
    assert rfc7946_problems(doc, PARK) == []
    types = {f["geometry"]["type"] for f in doc["features"] if f["geometry"]}
    assert {"Polygon", "LineString", "Point"} <= types


def test_the_rfc7946_check_catches_winding_crs_and_swapped_axes():
    ccw = [[131.0, 43.0], [131.1, 43.0], [131.1, 43.1], [131.0, 43.0]]
    good = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ccw]}}]}
    assert rfc7946_problems(good, PARK) == []
    cw = copy.deepcopy(good)
    cw["features"][0]["geometry"]["coordinates"] = [ccw[::-1]]
    assert "clockwise" in rfc7946_problems(cw, PARK)[0]
    crs = dict(good, crs={"type": "name", "properties": {"name": "EPSG:4326"}})
    assert "'crs'" in rfc7946_problems(crs, PARK)[0]
    swapped = copy.deepcopy(good)
    swapped["features"][0]["geometry"]["coordinates"] = [[[y, x] for x, y in ccw[::-1]]]
    assert any("is not longitude, latitude" in p for p in rfc7946_problems(swapped, PARK))
    near_equator = [[0.5, 10.0], [0.5, 10.1], [0.6, 10.1], [0.5, 10.0]]   # swapped, yet in range
    swapped["features"][0]["geometry"]["coordinates"] = [near_equator]
    assert any("swapped" in p for p in rfc7946_problems(swapped, (9.0, 0.0, 11.0, 1.0)))


# --- DJI routes: GDAL's LIBKML reads the route's KML ---------------------------------------------
@needs_gdal
def test_dji_route_kmz_opens_in_gdal_libkml(plans, tmp_path):
    _uav("plan", "export", plans["a189"], "--to", "wpml", "-o", tmp_path / "a189.kmz")
    routes = sorted(tmp_path.glob("a189*.kmz"))
    assert routes
    for kmz in routes:
        with zipfile.ZipFile(kmz) as z:
            assert sorted(z.namelist()) == ["wpmz/template.kml", "wpmz/waylines.wpml"]
        verdict = ogrinfo(kmz, "-al", "-so", driver="LIBKML")
        assert verdict.ok and "ERROR" not in verdict.output, verdict
        assert "using driver `LIBKML' successful" in verdict.output, verdict
        placemarks = zipfile.ZipFile(kmz).read("wpmz/template.kml").count(b"<Placemark>")
        assert list(ogr_layers(kmz).values())[0]["features"] == placemarks > 0
