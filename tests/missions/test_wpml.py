"""DJI Pilot 2 routes (WPML KMZ): what a DJI pilot gets from ``uav plan export --to wpml`` and
``uav plan import``, checked against the rules of DJI's published WPML documentation as we
read them (files, namespace, enums, index and id order, heights, photo triggers), the round
trip plan -> KMZ -> plan, and the refusals."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from missions import read_any_plan
from missions.data import sample_path
from missions.formats.geoid import geoid_height, grid_path
from missions.formats.qgc_plan import read_plan
from uav.cli import cli
from uav.geo import distance_m
from uav.items import Cmd, Frame

ROOT = Path(__file__).resolve().parents[2]
KML = "{http://www.opengis.net/kml/2.2}"
W = "{http://www.dji.com/wpmz/1.0.6}"
HOME = "43.1341,131.2674,142"
needs_geoid = pytest.mark.skipif(grid_path() is None, reason="EGM96 grid not installed (apt-get install proj-data)")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def files(kmz: Path) -> dict[str, ET.Element]:
    with zipfile.ZipFile(kmz) as zf:
        assert sorted(zf.namelist()) == ["wpmz/template.kml", "wpmz/waylines.wpml"]
        return {n: ET.fromstring(zf.read(n)) for n in zf.namelist()}


def txt(el, tag):
    return el.find(W + tag).text


def placemarks(root):
    return root.findall(f"{KML}Document/{KML}Folder/{KML}Placemark")


def check_spec_rules(kmz: Path, drone: tuple[int, int], payload: int, lens: str):
    """The rules DJI's WPML pages state, as this project reads them."""
    docs = files(kmz)
    tpl, wl = docs["wpmz/template.kml"], docs["wpmz/waylines.wpml"]
    for root in (tpl, wl):
        mc = root.find(f"{KML}Document/{W}missionConfig")
        assert txt(mc, "flyToWaylineMode") in ("safely", "pointToPoint")
        assert txt(mc, "finishAction") in ("goHome", "noAction", "autoLand", "gotoFirstWaypoint")
        assert txt(mc, "exitOnRCLost") == "executeLostAction" and txt(mc, "executeRCLostAction") == "goBack"
        assert 1.2 <= float(txt(mc, "takeOffSecurityHeight")) <= 1500
        assert 0 < float(txt(mc, "globalTransitionalSpeed")) <= 15
        assert (int(mc.find(W + "droneInfo/" + W + "droneEnumValue").text),
                int(mc.find(W + "droneInfo/" + W + "droneSubEnumValue").text)) == drone
        assert int(mc.find(W + "payloadInfo/" + W + "payloadEnumValue").text) == payload
        pms = placemarks(root)
        assert [int(txt(p, "index")) for p in pms] == list(range(len(pms)))
        groups = [g for p in pms for g in p.findall(W + "actionGroup")]
        assert [int(txt(g, "actionGroupId")) for g in groups] == list(range(len(groups)))
        for g in groups:
            assert int(txt(g, "actionGroupStartIndex")) <= int(txt(g, "actionGroupEndIndex")) < len(pms)
            actions = g.findall(W + "action")
            assert [int(txt(a, "actionId")) for a in actions] == list(range(len(actions)))
            for a in actions:
                lens_el = a.find(f"{W}actionActuatorFuncParam/{W}payloadLensIndex")
                assert lens_el is None or lens_el.text == lens
    assert txt(tpl.find(f"{KML}Document/{KML}Folder"), "templateType") == "waypoint"
    return tpl, wl


def flight(mission):
    """What a sortie flies: nav points, the speed leaving each, photos, trigger spans."""
    out, speed, trig = [], None, None
    for it in mission.items[1:]:
        c = int(it.command)
        if c in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_TURNS):
            out.append({"cmd": c, "lat": it.lat, "lon": it.lon, "alt": round(it.alt, 2),
                        "p1": round(it.param1, 2), "p3": round(it.param3, 1), "photo": False, "trig": trig})
        elif c == Cmd.DO_CHANGE_SPEED:
            speed = round(it.param2, 3)
            if out:
                out[-1]["speed"] = speed
        elif c == Cmd.DO_SET_CAM_TRIGG_DIST:
            trig = round(it.param1, 4) or None
            out[-1]["trig"] = trig if trig else out[-1]["trig"]
            out[-1]["stop" if not trig else "start"] = True
        elif c == Cmd.DO_DIGICAM_CONTROL:
            out[-1]["photo"] = True
    return out


def plan_and_export(tmp_path, argv, name):
    res = run("plan", *argv, "-o", tmp_path / f"{name}.plan")
    assert res.exit_code == 0, res.output
    res = run("plan", "export", tmp_path / f"{name}.plan", "--to", "wpml", "-o", tmp_path / f"{name}.kmz")
    assert res.exit_code == 0, res.output
    return read_plan(tmp_path / f"{name}.plan"), res.output


def kmzs(plan, tmp_path, name):
    n = len(plan.sorties)
    return [tmp_path / f"{name}.kmz"] if n == 1 else [tmp_path / f"{name}-sortie{k}.kmz" for k in range(1, n + 1)]


def test_readme_sector7_survey_one_route_per_sortie(tmp_path):
    plan, out = plan_and_export(tmp_path, [
        "survey", ROOT / "missions/data/park_sectors.geojson", "--sector-name", "Sector 7",
        "--exclude", ROOT / "missions/data/exclusions.geojson", "--camera", "mavic3e-wide", "--alt", 100,
        "--aircraft", "mavic3e"], "sector7")
    assert len(plan.sorties) > 1
    assert "DJI route       mavic3e (drone 77/0), payload 66 (mavic3e-wide, lens wide)" in out
    d = plan.stats.trigger_distance_m
    for k, kmz in enumerate(kmzs(plan, tmp_path, "sector7")):
        tpl, wl = check_spec_rules(kmz, (77, 0), 66, "wide")
        assert txt(wl.find(f"{KML}Document/{KML}Folder"), "executeHeightMode") == "relativeToStartPoint"
        assert txt(tpl.find(f"{KML}Document/{KML}Folder/{W}waylineCoordinateSysParam"), "heightMode") == \
            "relativeToStartPoint"
        pms = placemarks(wl)
        assert {float(txt(p, "executeHeight")) for p in pms} == {100.0}
        triggers = [g for p in pms for g in p.findall(W + "actionGroup")
                    if g.find(f"{W}actionTrigger/{W}actionTriggerType").text == "multipleDistance"]
        legs = sum(1 for it in plan.sorties[k].items if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0)
        assert len(triggers) == legs > 0
        for g in triggers:
            assert float(g.find(f"{W}actionTrigger/{W}actionTriggerParam").text) == pytest.approx(d, abs=1e-5)
            assert g.find(f"{W}action/{W}actionActuatorFunc").text == "takePhoto"


@pytest.mark.parametrize("argv,name,drone,payload,lens", [
    (["corridor", ROOT / "missions/data/road_a189.geojson", "--width", 100, "--camera", "m3t-thermal",
      "--alt", 120, "--aircraft", "mavic3t"], "a189", (77, 1), 67, "ir"),
    (["lookout", ROOT / "missions/data/salt_licks.geojson", "--radius", 40, "--time", 120, "--alt", 50,
      "--aircraft", "m30t", "--camera", "m30t-thermal"], "licks", (67, 1), 53, "ir"),
    (["survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60, "--trigger", "hover",
      "--aircraft", "mavic3e", "--home", HOME], "hover", (77, 0), 66, "wide"),
    (["perimeter", sample_path("demo_sector"), "--alt", 60, "--aircraft", "mavic3e", "--home", HOME],
     "edge", (77, 0), 66, "wide"),
])
def test_round_trip_keeps_every_waypoint_height_speed_and_photo(tmp_path, argv, name, drone, payload, lens):
    plan, _ = plan_and_export(tmp_path, argv, name)
    for k, kmz in enumerate(kmzs(plan, tmp_path, name)):
        check_spec_rules(kmz, drone, payload, lens)
        back = tmp_path / f"{name}-{k}-back.plan"
        res = run("plan", "import", kmz, "-o", back)
        assert res.exit_code == 0, res.output
        assert "home            " in res.output and "uav sim start --home" in res.output
        got = read_plan(back)
        assert got.aircraft.name == plan.aircraft.name and got.camera.wpml_lens == lens
        a, b = flight(plan.sorties[k]), flight(got.sorties[0])
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert (x["cmd"], x["alt"], x["p1"], x.get("speed"), x["photo"], x["trig"]) == \
                (y["cmd"], y["alt"], y["p1"], y.get("speed"), y["photo"], y["trig"])
            assert distance_m(x["lon"], x["lat"], y["lon"], y["lat"]) < 0.01
            if x["cmd"] == Cmd.NAV_LOITER_TURNS:
                assert y["p3"] == pytest.approx(x["p3"], abs=0.1)
        assert [i.command for i in got.sorties[0].items][-1] == Cmd.NAV_RETURN_TO_LAUNCH


def test_lookout_orbits_are_waypoints_round_the_salt_lick(tmp_path):
    plan, _ = plan_and_export(tmp_path, ["lookout", ROOT / "missions/data/salt_licks.geojson", "--radius", 40,
                                         "--time", 120, "--alt", 50, "--aircraft", "m30t"], "licks")
    _, wl = check_spec_rules(tmp_path / "licks.kmz", (67, 1), 53, "wide")
    orbits = [it for it in plan.sorties[0].items if it.command == Cmd.NAV_LOITER_TURNS]
    ring = [p for p in placemarks(wl)
            if txt(p.find(W + "waypointHeadingParam"), "waypointHeadingMode") == "towardPOI"]
    assert orbits and len(ring) >= 12 * len(orbits)
    for p in ring:
        lon, lat = (float(v) for v in p.find(f"{KML}Point/{KML}coordinates").text.split(","))
        plat, plon = (float(v) for v in txt(p.find(W + "waypointHeadingParam"), "waypointPoiPoint").split(",")[:2])
        assert distance_m(plon, plat, lon, lat) == pytest.approx(40, abs=0.05)


def write_dem(path):
    import rasterio
    from rasterio.transform import from_origin

    n, res, west, north = 200, 0.0001, 131.262, 43.142
    lon = west + (np.arange(n) + 0.5) * res
    lat = north - (np.arange(n) + 0.5) * res
    LON, LAT = np.meshgrid(lon, lat)
    z = (140 + 4000 * (LON - west) + 2000 * (north - LAT)).astype("float32")   # a slope
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(west, north, res, res), nodata=-9999) as dst:
        dst.write(z, 1)
    return path


@needs_geoid
def test_terrain_follow_route_carries_egm96_and_ellipsoid_heights(tmp_path):
    dem = write_dem(tmp_path / "slope.tif")
    plan, _ = plan_and_export(tmp_path, ["survey", sample_path("demo_sector"), "--camera", "mavic3e-wide",
                                         "--alt", 60, "--aircraft", "mavic3e", "--dem", dem, "--terrain-follow"],
                              "terrain")
    n_here = geoid_height(43.135, 131.27)
    assert 20 < n_here < 30        # EGM96 in Primorsky Krai: about +25 m
    for k, kmz in enumerate(kmzs(plan, tmp_path, "terrain")):
        tpl, wl = check_spec_rules(kmz, (77, 0), 66, "wide")
        assert txt(wl.find(f"{KML}Document/{KML}Folder"), "executeHeightMode") == "WGS84"
        assert txt(tpl.find(f"{KML}Document/{KML}Folder/{W}waylineCoordinateSysParam"), "heightMode") == "EGM96"
        amsl = [it.alt for it in plan.sorties[k].items[1:]
                if it.command == Cmd.NAV_WAYPOINT and it.frame == Frame.GLOBAL_INT]
        t_pms, w_pms = placemarks(tpl), placemarks(wl)
        assert [float(txt(p, "height")) for p in t_pms] == pytest.approx(amsl, abs=1e-3)
        for tp, wp in zip(t_pms, w_pms):
            lon, lat = (float(v) for v in tp.find(f"{KML}Point/{KML}coordinates").text.split(","))
            n = geoid_height(lat, lon)
            assert float(txt(tp, "ellipsoidHeight")) - float(txt(tp, "height")) == pytest.approx(n, abs=2e-3)
            assert float(txt(wp, "executeHeight")) == pytest.approx(float(txt(tp, "ellipsoidHeight")), abs=1e-3)
        ref = txt(tpl.find(f"{KML}Document/{W}missionConfig"), "takeOffRefPoint").split(",")
        home = plan.sorties[k].items[0]
        assert float(ref[2]) == pytest.approx(home.alt + geoid_height(home.lat, home.lon), abs=2e-3)
        # and back: heights above the geoid again
        got = read_any_plan(kmz)
        back = [it.alt for it in got.sorties[0].items[1:] if it.command == Cmd.NAV_WAYPOINT]
        assert back == pytest.approx(amsl, abs=0.01)
        assert got.sorties[0].items[0].alt == pytest.approx(home.alt, abs=0.01)


def test_plan_show_prints_home_and_the_simulator_line(tmp_path):
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--home", HOME, "-o", tmp_path / "s.plan")
    assert res.exit_code == 0, res.output
    res = run("plan", "show", tmp_path / "s.plan")
    assert res.exit_code == 0, res.output
    assert "  home            43.1341000, 131.2674000, 142.0 m AMSL" in res.output
    assert "uav sim start --home 43.1341000,131.2674000,142.0,0" in res.output


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------
def test_camera_the_aircraft_cannot_carry_is_refused_at_plan_time(tmp_path):
    res = run("plan", "corridor", ROOT / "missions/data/road_a189.geojson", "--width", 100, "--camera",
              "m3t-thermal", "--alt", 120, "--aircraft", "mavic3e", "-o", tmp_path / "x.plan")
    assert res.exit_code == 2
    assert "aircraft 'mavic3e' cannot carry camera 'm3t-thermal': its cameras are mavic3e-wide" in res.output
    assert "m3t-thermal flies on: mavic3t" in res.output and not (tmp_path / "x.plan").exists()


def test_aircraft_without_a_dji_route_format_is_refused(tmp_path):
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--home", HOME, "-o", tmp_path / "q.plan")
    assert res.exit_code == 0, res.output
    res = run("plan", "export", tmp_path / "q.plan", "--to", "wpml", "-o", tmp_path / "q.kmz")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "'arducopter-quad' has no DJI route format" in res.output and "mavic3e, mavic3t" in res.output
    assert not list(tmp_path.glob("*.kmz"))


def test_route_over_a_dji_limit_is_refused_naming_the_waypoint(tmp_path):
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--aircraft", "mavic3e", "--home", HOME, "-o", tmp_path / "s.plan")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "s.plan").read_text())
    for row in doc["amur"]["sorties"][0]["items"]:    # someone edits the plan: 20 m/s legs
        if row[0] == Cmd.DO_CHANGE_SPEED and row[3] == 10:
            row[3] = 20
    for item in doc["mission"]["items"]:              # (in QGroundControl's section too)
        if item["command"] == Cmd.DO_CHANGE_SPEED and item["params"][1] == 10:
            item["params"][1] = 20
    (tmp_path / "s.plan").write_text(json.dumps(doc))
    res = run("plan", "export", tmp_path / "s.plan", "--to", "wpml", "-o", tmp_path / "s.kmz")
    assert res.exit_code == 2, res.output
    assert "sortie 1: waypoint 0: speed 20 m/s, the aircraft flies routes at (0, 15] m/s" in res.output
    assert "transitional speed 20 m/s: DJI allows (0, 15]" in res.output
    assert not list(tmp_path.glob("*.kmz"))


def _kmz(path, **members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name.replace("__", "/").replace("_kml", ".kml").replace("_wpml", ".wpml"), data)
    return path


@pytest.fixture(scope="module")
def good_kmz(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("good")
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--aircraft", "mavic3e", "--home", HOME, "-o", tmp / "s.plan")
    assert res.exit_code == 0, res.output
    assert run("plan", "export", tmp / "s.plan", "--to", "wpml", "-o", tmp / "s.kmz").exit_code == 0
    with zipfile.ZipFile(tmp / "s.kmz") as zf:
        return zf.read("wpmz/template.kml"), zf.read("wpmz/waylines.wpml")


@pytest.mark.parametrize("case,message", [
    ("no_template", "has no wpmz/template.kml: a DJI route needs both"),
    ("malformed", "wpmz/waylines.wpml is not well-formed XML"),
    ("unknown_drone", "wpml:droneInfo says drone 99/1, an aircraft amur-uav has no profile for"),
    ("bad_index", "Placemark 1 has wpml:index 5"),
    ("google_earth", "is a Google Earth KMZ (doc.kml), not a DJI route"),
    ("not_zip", "is not a KMZ (zip) file"),
])
def test_import_refuses_a_broken_route_naming_file_and_element(tmp_path, good_kmz, case, message):
    tpl, wl = good_kmz
    route = tmp_path / "route.kmz"
    if case == "no_template":
        _kmz(route, wpmz__waylines_wpml=wl)
    elif case == "malformed":
        _kmz(route, wpmz__template_kml=tpl, wpmz__waylines_wpml=wl[: len(wl) // 2])
    elif case == "unknown_drone":
        bad = wl.replace(b"<wpml:droneEnumValue>77<", b"<wpml:droneEnumValue>99<").replace(
            b"<wpml:droneSubEnumValue>0<", b"<wpml:droneSubEnumValue>1<")
        _kmz(route, wpmz__template_kml=tpl, wpmz__waylines_wpml=bad)
    elif case == "bad_index":
        _kmz(route, wpmz__template_kml=tpl, wpmz__waylines_wpml=wl.replace(b"<wpml:index>1<", b"<wpml:index>5<"))
    elif case == "google_earth":
        _kmz(route, doc_kml=b"<kml/>")
    else:
        route.write_bytes(b"PK not really")
    res = run("plan", "import", route, "-o", tmp_path / "out.plan")
    assert res.exit_code == 2, res.output
    assert message in res.output and str(route) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out.plan").exists()


def test_import_reads_a_route_drawn_in_pilot_2(tmp_path, good_kmz):
    # What Pilot 2 writes that we do not: DJI's lens spelling, a time-lapse survey, extra actions.
    tpl, wl = good_kmz
    drawn = wl.replace(b"<wpml:payloadLensIndex>wide<", b"<wpml:payloadLensIndex>visable<")
    drawn = drawn.replace(b"multipleDistance", b"multipleTiming", 1)
    route = _kmz(tmp_path / "drawn.kmz", wpmz__template_kml=tpl, wpmz__waylines_wpml=drawn)
    res = run("plan", "import", route, "-o", tmp_path / "drawn.plan")
    assert res.exit_code == 0, res.output
    assert "planned as every" in res.output          # time -> distance, said
    plan = read_plan(tmp_path / "drawn.plan")
    assert plan.camera.name == "mavic3e-wide" and plan.kind.value == "imported"
    assert any(i.command == Cmd.DO_SET_CAM_TRIGG_DIST and i.param1 > 0 for i in plan.sorties[0].items)
    assert run("plan", "show", route).exit_code == 0
    res = run("plan", "export", route, "--to", "waypoints", "-o", tmp_path / "drawn.waypoints")
    assert res.exit_code == 0, res.output


def test_kmz_bytes_are_a_zip_of_two_files():
    # The writer's own helper, as a check that nothing but the two files goes in.
    from missions.formats.wpml import kmz_bytes
    from missions.formats.wpml_route import DjiRoute, RouteWaypoint

    r = DjiRoute("t", 77, 0, 66, "wide", "relative", [RouteWaypoint(43.1, 131.2, 50, 5.0)])
    with zipfile.ZipFile(io.BytesIO(kmz_bytes(r, 0))) as zf:
        assert sorted(zf.namelist()) == ["wpmz/template.kml", "wpmz/waylines.wpml"]
    assert math.isfinite(len(r.waypoints))


@pytest.mark.slow
def test_rehearse_flies_a_dji_route_kmz(tmp_path, sim_backend):
    # uav rehearse takes the KMZ a DJI pilot would load: the same waypoints and photos.
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--aircraft", "mavic3e", "--home", HOME, "-o", tmp_path / "s.plan")
    assert res.exit_code == 0, res.output
    assert run("plan", "export", tmp_path / "s.plan", "--to", "wpml", "-o", tmp_path / "s.kmz").exit_code == 0
    res = run("rehearse", tmp_path / "s.kmz", "--backend", sim_backend,
              "--speedup", "40" if sim_backend == "ardupilot" else "100", "-o", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert res.exit_code == 0 and report["ok"], res.output
    planned = read_plan(tmp_path / "s.plan").stats.photo_count
    taken = report["sorties"][0]["photos_taken"]
    assert abs(taken - planned) <= 2, (taken, planned)


def test_readme_dji_commands_run_as_printed(tmp_path, monkeypatch):
    # The README's DJI block, after its Sector 7 survey: export and import as printed.
    import shlex

    text = (ROOT / "README.md").read_text()
    block = next(b.split("```", 1)[0] for b in text.split("```bash")[1:]
                 if "--to wpml" in b.split("```", 1)[0])
    survey = text.split("### Ranger: plan a flight", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    survey = survey.split("uav plan survey", 1)[1].split("uav plan show", 1)[0].replace("\\\n", " ")
    monkeypatch.chdir(ROOT)
    res = run("plan", "survey", *[a.replace("sector7.plan", str(tmp_path / "sector7.plan"))
                                  for a in shlex.split(survey.split("#")[0])])
    assert res.exit_code == 0, res.output
    commands = [shlex.split(line.split("  #", 1)[0]) for line in block.splitlines() if line.startswith("uav plan")]
    assert [c[2] for c in commands] == ["export", "import"]
    for argv in commands:
        res = run(*[str(tmp_path / a) if a.endswith((".plan", ".kmz")) else a for a in argv[1:]])
        assert res.exit_code == 0, (argv, res.output)
    assert (tmp_path / "sector7-sortie1.kmz").exists() and read_plan(tmp_path / "check.plan").sorties


def test_a_plan_saved_before_the_dji_values_still_exports(tmp_path):
    res = run("plan", "survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 60,
              "--aircraft", "mavic3e", "--home", HOME, "-o", tmp_path / "s.plan")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "s.plan").read_text())
    for key in ("aircraft", "camera"):   # what an older amur-uav stored
        for f in ("wpml_drone", "wpml_drone_sub", "cameras", "wpml_payload", "wpml_lens"):
            doc["amur"][key].pop(f, None)
    (tmp_path / "s.plan").write_text(json.dumps(doc))
    res = run("plan", "export", tmp_path / "s.plan", "--to", "wpml", "-o", tmp_path / "s.kmz")
    assert res.exit_code == 0, res.output
    check_spec_rules(tmp_path / "s.kmz", (77, 0), 66, "wide")


def test_a_relative_route_without_a_known_home_altitude_has_no_take_off_reference(tmp_path):
    plan, _ = plan_and_export(tmp_path, ["survey", sample_path("demo_sector"), "--camera",
                                         "mavic3e-wide", "--alt", 60, "--aircraft", "mavic3e"],
                              "noalt")
    assert plan.sorties[0].items[0].alt == 0.0   # no DEM, no --home altitude
    for kmz in kmzs(plan, tmp_path, "noalt"):
        tpl, _wl = check_spec_rules(kmz, (77, 0), 66, "wide")
        assert tpl.find(f"{KML}Document/{W}missionConfig/{W}takeOffRefPoint") is None
