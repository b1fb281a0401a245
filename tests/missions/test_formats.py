"""Mission files: .plan (QGroundControl), .waypoints (QGC WPL 110), KML/KMZ and GeoJSON.

Round trips must give back the same plan; exports are parsed with independent readers
(json, xml.etree, zipfile, pyogrio) and checked against what was planned.
"""

import json
import math
import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping, shape

from missions.formats import format_for, read_any_plan
from missions.formats.geojson import plan_feature_collection, write_geojson
from missions.formats.kml import write_kml
from missions.formats.layers import flight_path, photo_points
from missions.formats.qgc_plan import plan_json, read_plan, sortie_paths, write_plan
from missions.formats.waypoints import (
    parse_waypoints,
    read_waypoints,
    write_plan_waypoints,
    write_waypoints,
)
from missions.model import AltitudeMode, Plan, PlanKind, PlanStats
from uav.errors import PlanFileError
from uav.items import Cmd, Frame, Home, Mission, MissionItem, MissionType
from uav.profiles import get_aircraft, get_camera

HOME = (43.1337, 131.2664, 142.0)  # lat, lon, alt AMSL
KML = "{http://www.opengis.net/kml/2.2}"


def _sortie(offset: float, name: str) -> Mission:
    lat0, lon0, alt0 = HOME
    items = [Home(lat0, lon0, alt0).as_item(),
             MissionItem(Cmd.NAV_TAKEOFF, Frame.GLOBAL_RELATIVE_ALT_INT, alt=60.0),
             MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, 1.0, 7.5, -1.0)]
    for k in range(4):
        lat = lat0 + 0.0004 + offset + 0.0003 * k
        items.append(MissionItem(Cmd.NAV_WAYPOINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat=lat,
                                 lon=131.26723456789, alt=60.0))
        items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, 18.123456789, 0, 1))
        items.append(MissionItem(Cmd.NAV_WAYPOINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat=lat,
                                 lon=131.27298765432, alt=60.0, param4=math.nan))
        items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, 0.0, 0, 1))
    items.append(MissionItem(Cmd.NAV_LOITER_TIME, Frame.GLOBAL_TERRAIN_ALT_INT, 30.0, 0, 25.0,
                             lat=lat0 + 0.002, lon=lon0 + 0.003, alt=45.0))
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    fence_ring = [(43.1325, 131.2655), (43.1325, 131.2745), (43.1378, 131.2745), (43.1378, 131.2655)]
    fence = [MissionItem(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Frame.GLOBAL, 4.0, lat=la, lon=lo,
                         mission_type=MissionType.FENCE) for la, lo in fence_ring]
    fence += [MissionItem(Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, Frame.GLOBAL, 3.0, lat=la, lon=lo,
                          mission_type=MissionType.FENCE)
              for la, lo in [(43.1348, 131.2702), (43.1348, 131.2710), (43.1353, 131.2706)]]
    fence.append(MissionItem(Cmd.NAV_FENCE_CIRCLE_EXCLUSION, Frame.GLOBAL, 40.0, lat=43.1360,
                             lon=131.2690, mission_type=MissionType.FENCE))
    fence.append(MissionItem(Cmd.NAV_FENCE_RETURN_POINT, Frame.GLOBAL_RELATIVE_ALT, lat=HOME[0],
                             lon=HOME[1], alt=30.0, mission_type=MissionType.FENCE))
    rally = [MissionItem(Cmd.NAV_RALLY_POINT, Frame.GLOBAL_RELATIVE_ALT, lat=43.1340, lon=131.2670,
                         alt=25.0, mission_type=MissionType.RALLY)]
    return Mission(items=items, fence=fence, rally=rally, name=name)


def make_plan(n_sorties: int = 2) -> Plan:
    sector = shapely.Polygon([(131.2670, 43.1330), (131.2731, 43.1331), (131.2733, 43.1367),
                              (131.2700, 43.1369), (131.2668, 43.1365)])
    exclusion = shapely.box(131.2702, 43.1348, 131.2710, 43.1353)
    legs = [[(131.26723456789, 43.1341 + 0.0003 * k), (131.27298765432, 43.1341 + 0.0003 * k)]
            for k in range(4)]
    return Plan(
        kind=PlanKind.SURVEY,
        sorties=[_sortie(0.0001 * s, f"sortie {s + 1}") for s in range(n_sorties)],
        altitude_mode=AltitudeMode.RELATIVE,
        camera=get_camera("mavic3e-wide"),
        aircraft=get_aircraft("arducopter-quad"),
        stats=PlanStats(area_m2=211_000.0, distance_m=5123.4, flight_time_s=812.5, photo_count=112,
                        gsd_m=0.0123, line_spacing_m=33.3, trigger_distance_m=18.123456789,
                        altitude_m=60.0, grid_angle_deg=90.0, transect_count=4,
                        sortie_count=n_sorties, sortie_times_s=[400.0] * n_sorties,
                        sortie_distances_m=[2500.0] * n_sorties),
        legs=legs,
        sector=mapping(sector),
        exclusions=[mapping(exclusion)],
        settings={"front_overlap": 0.75, "side_overlap": 0.65, "angle_deg": "auto", "home": [43.1337, 131.2664]},
        name="Demo sector — Kedrovaya clearing",
    )


def _same_item(a: MissionItem, b: MissionItem, tol: float = 0.0):
    assert (int(a.command), int(a.frame), a.autocontinue, int(a.mission_type)) == \
        (int(b.command), int(b.frame), b.autocontinue, int(b.mission_type))
    for x, y in zip(a.params, b.params, strict=True):
        if math.isnan(x):
            assert math.isnan(y)
        else:
            assert abs(x - y) <= tol, (a, b)


def _json_norm(x):
    return json.loads(json.dumps(x))


# ---------------------------------------------------------------------------------- .plan
def test_plan_round_trip_is_identical(tmp_path):
    plan = make_plan(3)
    out = tmp_path / "survey.plan"
    assert write_plan(plan, out) == [out]
    back = read_plan(out)
    assert back.kind == plan.kind and back.altitude_mode == plan.altitude_mode
    assert back.name == plan.name and back.camera == plan.camera and back.aircraft == plan.aircraft
    assert back.stats == plan.stats
    assert back.legs == plan.legs
    assert back.sector == _json_norm(plan.sector) and back.exclusions == _json_norm(plan.exclusions)
    assert back.settings == _json_norm(plan.settings)
    assert len(back.sorties) == 3
    for a, b in zip(plan.sorties, back.sorties, strict=True):
        assert a.name == b.name
        for kind in ("items", "fence", "rally"):
            assert len(getattr(a, kind)) == len(getattr(b, kind))
            for x, y in zip(getattr(a, kind), getattr(b, kind), strict=True):
                _same_item(x, y)


def test_plan_structure_is_what_qgroundcontrol_loads(tmp_path):
    """Field names, types and versions as QGroundControl's plan format documents them."""
    plan = make_plan(2)
    out = tmp_path / "survey.plan"
    write_plan(plan, out)
    doc = json.loads(out.read_text())   # strict JSON: no NaN tokens
    assert doc["fileType"] == "Plan" and doc["version"] == 1
    assert isinstance(doc["groundStation"], str)
    m = doc["mission"]
    assert m["version"] == 2 and m["firmwareType"] == 3 and m["vehicleType"] == 2
    assert isinstance(m["cruiseSpeed"], int | float) and isinstance(m["hoverSpeed"], int | float)
    assert m["plannedHomePosition"] == [HOME[0], HOME[1], HOME[2]]          # lat, lon, alt
    items = plan.sorties[0].items
    assert len(m["items"]) == len(items) - 1                                  # home is not an item
    for seq, (obj, item) in enumerate(zip(m["items"], items[1:], strict=True), start=1):
        assert set(obj) == {"autoContinue", "command", "doJumpId", "frame", "params", "type"}
        assert obj["type"] == "SimpleItem" and obj["doJumpId"] == seq
        assert isinstance(obj["autoContinue"], bool) and isinstance(obj["command"], int)
        assert len(obj["params"]) == 7
        assert all(p is None or isinstance(p, int | float) for p in obj["params"])
        assert obj["command"] == item.command
    # files carry the float frames QGroundControl edits (3 relative, 10 terrain, 2 mission)
    frames = {o["frame"] for o in m["items"]}
    assert frames == {2, 3, 10}
    wp = next(o for o in m["items"] if o["command"] == Cmd.NAV_WAYPOINT)
    assert wp["params"][4:6] == [items[3].lat, items[3].lon]                 # lat, lon order
    assert any(o["params"][3] is None for o in m["items"])                   # NaN -> null
    fence = doc["geoFence"]
    assert fence["version"] == 2 and set(fence) >= {"circles", "polygons", "version"}
    inc = [p for p in fence["polygons"] if p["inclusion"]]
    exc = [p for p in fence["polygons"] if not p["inclusion"]]
    assert len(inc) == 1 and len(exc) == 1 and all(p["version"] == 1 for p in fence["polygons"])
    assert inc[0]["polygon"][0] == [43.1325, 131.2655]                        # lat, lon
    assert len(inc[0]["polygon"]) == 4 and len(exc[0]["polygon"]) == 3
    (circle,) = fence["circles"]
    assert circle == {"circle": {"center": [43.1360, 131.2690], "radius": 40}, "inclusion": False,
                      "version": 1}
    assert fence["breachReturn"] == [HOME[0], HOME[1], 30]
    rally = doc["rallyPoints"]
    assert rally == {"points": [[43.1340, 131.2670, 25]], "version": 2}
    assert len(doc["amur"]["sorties"]) == 2


def test_plan_without_amur_data_reads_as_imported(tmp_path):
    """A plan QGroundControl saved (it drops unknown keys) still reads: items, fence, rally."""
    plan = make_plan(1)
    doc = plan_json(plan)
    del doc["amur"]
    out = tmp_path / "from_qgc.plan"
    out.write_text(json.dumps(doc))
    back = read_plan(out)
    assert back.kind == PlanKind.IMPORTED and len(back.sorties) == 1
    src = plan.sorties[0]
    got = back.sorties[0]
    assert len(got.items) == len(src.items)
    for a, b in zip(src.items[1:], got.items[1:], strict=True):
        # the file holds QGroundControl's float frames; the autopilot treats them the same
        assert int(b.frame) in (int(a.frame), {6: 3, 11: 10, 5: 0}.get(int(a.frame), -1))
        assert int(a.command) == int(b.command)
        assert a.lat == b.lat and a.lon == b.lon and a.alt == b.alt
    assert [(i.command, i.lat, i.lon, i.param1) for i in got.fence] == \
        [(i.command, i.lat, i.lon, i.param1) for i in src.fence]
    assert [(i.lat, i.lon, i.alt) for i in got.rally] == [(i.lat, i.lon, i.alt) for i in src.rally]


def test_plan_edited_in_qgroundcontrol_wins_over_stored_copy(tmp_path):
    plan = make_plan(2)
    doc = plan_json(plan)
    doc["mission"]["items"][2]["params"][6] = 75.0   # someone raised a waypoint in QGC
    out = tmp_path / "edited.plan"
    out.write_text(json.dumps(doc))
    back = read_plan(out)
    assert back.sorties[0].items[3].command == Cmd.NAV_WAYPOINT
    assert back.sorties[0].items[3].alt == 75.0
    assert back.sorties[1].items[3].alt == 60.0


def test_qgc_survey_complex_item_is_expanded(tmp_path):
    plan = make_plan(1)
    doc = plan_json(plan)
    del doc["amur"]
    simple = doc["mission"]["items"]
    doc["mission"]["items"] = [simple[0], {"type": "ComplexItem", "complexItemType": "survey",
                                           "TransectStyleComplexItem": {"Items": simple[1:]}}]
    out = tmp_path / "qgc_survey.plan"
    out.write_text(json.dumps(doc))
    assert len(read_plan(out).sorties[0].items) == len(plan.sorties[0].items)
    del doc["mission"]["items"][1]["TransectStyleComplexItem"]["Items"]
    out.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="without its expanded waypoints"):
        read_plan(out)


def test_split_sorties_writes_one_file_per_sortie(tmp_path):
    plan = make_plan(3)
    out = tmp_path / "big.plan"
    written = write_plan(plan, out, split_sorties=True)
    assert written == [out, *sortie_paths(out, 3)]
    assert [p.name for p in written[1:]] == ["big-sortie1.plan", "big-sortie2.plan", "big-sortie3.plan"]
    for k, p in enumerate(written[1:]):
        one = read_plan(p)
        assert len(one.sorties) == 1 and one.settings["sortie_index"] == k + 1
        doc = json.loads(p.read_text())
        expect = plan.sorties[k].items[3].lat
        assert doc["mission"]["items"][2]["params"][4] == expect


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"fileType": "Mission", "version": 1}', "fileType is 'Mission'"),
    ('{"fileType": "Plan", "version": 7, "mission": {}}', "version 7 is not supported"),
    ('{"fileType": "Plan", "version": 1, "mission": {"version": 2, "items": [], "firmwareType": 3}}',
     "plannedHomePosition"),
    ('{"fileType": "Plan", "version": 1, "mission": {"version": 2, "firmwareType": 3, '
     '"plannedHomePosition": [43, 131, 0], "items": [{"type": "SimpleItem", "command": 16, '
     '"frame": 3, "autoContinue": true, "params": [0, 0, 0]}]}}', "mission item 1 needs 7 params"),
    ('{"fileType": "Plan", "version": 1, "mission": {"version": 2, "firmwareType": 3, '
     '"plannedHomePosition": [43, 131, 0], "items": [{"type": "SimpleItem", "frame": 3, '
     '"autoContinue": true, "params": [0, 0, 0, 0, 0, 0, 0]}]}}', "mission item 1 has no 'command'"),
])
def test_bad_plan_files_are_refused_with_the_reason(tmp_path, content, message):
    p = tmp_path / "bad.plan"
    p.write_text(content)
    with pytest.raises(PlanFileError, match=message):
        read_plan(p)


def test_missing_plan_file():
    with pytest.raises(PlanFileError, match="plan file not found"):
        read_plan("/nonexistent/x.plan")


# ---------------------------------------------------------------------------------- .waypoints
def test_waypoints_round_trip_within_precision(tmp_path):
    plan = make_plan(1)
    mission = plan.sorties[0]
    out = write_waypoints(mission, tmp_path / "m.waypoints")
    raw = out.read_bytes()
    lines = raw.decode().splitlines()
    assert lines[0] == "QGC WPL 110"
    first = lines[1].split("\t")
    assert len(first) == 12 and first[:4] == ["0", "1", "0", "16"]           # home: seq 0, current
    assert first[8] == f"{HOME[0]:.8f}" and first[9] == f"{HOME[1]:.8f}"     # lat then lon
    assert all(ln.split("\t")[1] == "0" for ln in lines[2:])
    back = read_waypoints(out)
    assert len(back.items) == len(mission.items)
    for a, b in zip(mission.items, back.items, strict=True):
        _same_item(a, b, tol=1e-6)
        assert abs(a.lat - b.lat) <= 5e-9 and abs(a.lon - b.lon) <= 5e-9
    # parameters other than position are written exactly
    assert back.items[4].param1 == 18.123456789


def test_waypoints_per_sortie_files(tmp_path):
    plan = make_plan(2)
    paths = write_plan_waypoints(plan, tmp_path / "m.waypoints")
    assert [p.name for p in paths] == ["m-sortie1.waypoints", "m-sortie2.waypoints"]
    assert read_any_plan(paths[1]).sorties[0].items[3].lat == pytest.approx(plan.sorties[1].items[3].lat, abs=1e-8)


@pytest.mark.parametrize("text, message", [
    ("hello\n", "not a waypoints file"),
    ("QGC WPL 120\n", "version 120 is not supported"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t43.1\t131.2\n", "line 2: expected 12 fields, found 10"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t43.1\tabc\t100\t1\n", "line 2: a field is not a number"),
    ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t43.1\t131.2\t100\t1\n2\t0\t3\t16\t0\t0\t0\t0\t43.1\t131.2\t60\t1\n",
     "line 3: item number 2 out of order"),
    ("QGC WPL 110\n", "has no items"),
])
def test_bad_waypoints_are_refused_with_the_line(text, message):
    with pytest.raises(PlanFileError, match=message):
        parse_waypoints(text, "x.waypoints")


# ---------------------------------------------------------------------------------- KML / KMZ
def _placemarks(root):
    out = {}
    for pm in root.iter(f"{KML}Placemark"):
        data = {d.get("name"): d.find(f"{KML}value").text for d in pm.iter(f"{KML}Data")}
        out.setdefault(data["role"], []).append((pm, data))
    return out


def test_kml_has_every_layer_with_the_right_altitude_mode(tmp_path):
    plan = make_plan(2)
    out = write_kml(plan, tmp_path / "plan.kml")
    root = ET.parse(out).getroot()
    pms = _placemarks(root)
    assert {"sector", "exclusion", "fence_inclusion", "fence_exclusion", "flight_path", "home",
            "imaging_leg", "rally"} <= set(pms)
    assert len(pms["flight_path"]) == 2 and len(pms["imaging_leg"]) == 4
    # the sector polygon is the planned one (KML is lon,lat)
    sector_pm = pms["sector"][0][0]
    coords = sector_pm.find(f".//{KML}outerBoundaryIs//{KML}coordinates").text.split()
    ring = [tuple(map(float, c.split(",")[:2])) for c in coords]
    assert shapely.Polygon(ring).equals_exact(shape(plan.sector), 1e-8)
    assert sector_pm.find(f".//{KML}altitudeMode").text == "clampToGround"
    # flight path: home AMSL known, so relative altitudes become absolute = home + relative
    path_pm = pms["flight_path"][0][0]
    assert path_pm.find(f".//{KML}altitudeMode").text == "absolute"
    pts = [tuple(map(float, c.split(","))) for c in path_pm.find(f".//{KML}coordinates").text.split()]
    wp = plan.sorties[0].items[3]
    assert any(abs(x - wp.lon) < 1e-8 and abs(y - wp.lat) < 1e-8 and abs(z - (HOME[2] + 60.0)) < 0.01
               for x, y, z in pts)
    # a loiter in the terrain frame: drawn over home's level in the mixed path (no DEM here)
    assert any(abs(z - (HOME[2] + 45.0)) < 0.01 for _x, _y, z in pts)


def test_kml_without_home_altitude_draws_relative_to_ground():
    plan = make_plan(1)
    plan.sorties[0].items[0] = Home(HOME[0], HOME[1], 0.0).as_item()
    plan.sorties[0].items = [i for i in plan.sorties[0].items if i.frame != Frame.GLOBAL_TERRAIN_ALT_INT]
    path, mode = flight_path(plan.sorties[0].items)
    assert mode == "relativeToGround" and max(z for _x, _y, z in path) == 60.0


def test_kmz_is_zipped_doc_kml_and_readable_by_gdal(tmp_path):
    import pyogrio

    plan = make_plan(1)
    out = write_kml(plan, tmp_path / "plan.kmz", photos=True)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["doc.kml"]
        root = ET.fromstring(zf.read("doc.kml"))
    pms = _placemarks(root)
    assert len(pms["photo"]) == len(photo_points(plan.legs, plan.stats.trigger_distance_m)) > 0
    layers = [name for name, _ in pyogrio.list_layers(str(out))]
    assert "Areas" in layers and "Flight" in layers


def test_photo_points_follow_trigger_distance():
    leg = [(131.2672, 43.1341), (131.2730, 43.1341)]   # ~470 m east-west
    pts = photo_points([leg], 20.0)
    from uav.geo import distance_m

    gaps = distance_m(np.array(pts[:-1])[:, 0], np.array(pts[:-1])[:, 1],
                      np.array(pts[1:])[:, 0], np.array(pts[1:])[:, 1])
    assert np.allclose(gaps, 20.0, atol=0.05)
    assert len(pts) == int(distance_m(*leg[0], *leg[1]) // 20.0) + 1


# ---------------------------------------------------------------------------------- GeoJSON
def test_geojson_collection_is_readable_by_json_and_gdal(tmp_path):
    import pyogrio

    plan = make_plan(2)
    out = write_geojson(plan, tmp_path / "plan.geojson")
    fc = json.loads(out.read_text())
    assert fc["type"] == "FeatureCollection"
    roles = [f["properties"]["role"] for f in fc["features"]]
    for role in ("sector", "exclusion", "fence_inclusion", "fence_exclusion", "rally",
                 "flight_path", "home", "waypoint", "imaging_leg"):
        assert role in roles
    sector = next(f for f in fc["features"] if f["properties"]["role"] == "sector")
    assert shape(sector["geometry"]).equals_exact(shape(plan.sector), 1e-8)
    paths = [f for f in fc["features"] if f["properties"]["role"] == "flight_path"]
    assert [f["properties"]["sortie"] for f in paths] == [1, 2]
    assert paths[0]["properties"]["altitude_mode"] == "absolute"
    wps = [f for f in fc["features"] if f["properties"]["role"] == "waypoint" and f["properties"]["sortie"] == 1]
    first_wp = plan.sorties[0].items[3]
    assert wps[0]["geometry"]["coordinates"][:2] == [round(first_wp.lon, 8), round(first_wp.lat, 8)]
    circle = [f for f in fc["features"] if f["properties"]["role"] == "fence_exclusion"
              and len(f["geometry"]["coordinates"][0]) > 10]
    assert circle, "the exclusion circle is drawn as a polygon"
    meta, _fids, geoms, _fields = pyogrio.raw.read(str(out))
    assert len(geoms) == len(fc["features"])


def test_format_for_and_unknown_format():
    assert format_for("x.kmz") == "kmz" and format_for("x", "GeoJSON") == "geojson"
    with pytest.raises(PlanFileError, match="unknown mission file format 'gpx'"):
        format_for("out.gpx")


def test_feature_collection_numbers_are_finite():
    plan = make_plan(1)
    plan.stats.gsd_m = float("nan")
    fc = plan_feature_collection(plan)
    json.dumps(fc, allow_nan=False)
