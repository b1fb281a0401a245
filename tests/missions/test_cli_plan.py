"""``uav plan``: end to end through click's runner, on the bundled demo sector and bad inputs."""

import json
import zipfile
from xml.etree import ElementTree as ET

import pytest
import shapely
from click.testing import CliRunner

from missions.data import sample_path
from missions.formats.qgc_plan import read_plan
from missions.formats.waypoints import read_waypoints
from uav.cli import cli
from uav.cli.plan import parse_fraction
from uav.errors import InvalidInputError

HOME = "43.1341,131.2674,142"   # lat,lon,alt: the demo launch point


def run(*args):
    result = CliRunner().invoke(cli, ["plan", *map(str, args)])
    return result


def _demo(tmp_path, *extra, out="demo.plan"):
    return run("survey", sample_path("demo_sector"), "--exclude", sample_path("demo_exclusion"),
               "--camera", "mavic3e-wide", "--home", HOME, "-o", tmp_path / out, *extra)


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    res = _demo(d, "--alt", 60)
    assert res.exit_code == 0, res.output
    return d / "demo.plan", res.output


def test_survey_writes_a_qgc_plan_and_prints_a_summary(demo_plan):
    path, output = demo_plan
    for words in ("survey plan", "area to image", "GSD", "photos", "flight time", "wrote"):
        assert words in output
    doc = json.loads(path.read_text())
    assert doc["fileType"] == "Plan" and doc["mission"]["firmwareType"] == 3
    lat, lon, alt = doc["mission"]["plannedHomePosition"]
    assert (lat, lon, alt) == (43.1341, 131.2674, 142.0)
    assert doc["geoFence"]["polygons"] and any(not p["inclusion"] for p in doc["geoFence"]["polygons"])
    plan = read_plan(path)
    assert plan.kind.value == "survey" and plan.camera.name == "mavic3e-wide"
    # the imaging legs stay inside the sector minus the apiary
    from missions.sectors import read_areas, read_sector

    allowed = read_sector(sample_path("demo_sector")).difference(read_areas(sample_path("demo_exclusion"))[0])
    for leg in plan.legs:
        assert allowed.buffer(1e-6).covers(shapely.LineString(leg))


def test_planned_file_reads_back_and_rewrites_identically(demo_plan, tmp_path):
    from missions.formats.qgc_plan import write_plan

    path, _ = demo_plan
    again = tmp_path / "again.plan"
    write_plan(read_plan(path), again)
    assert json.loads(again.read_text()) == json.loads(path.read_text())


def test_overlap_as_percent_or_fraction_plans_the_same(tmp_path):
    a = _demo(tmp_path, "--alt", 60, "--front-overlap", 80, "--side-overlap", 70, out="a.plan")
    b = _demo(tmp_path, "--alt", 60, "--front-overlap", 0.8, "--side-overlap", "70%", out="b.plan")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    sa, sb = read_plan(tmp_path / "a.plan").stats, read_plan(tmp_path / "b.plan").stats
    assert sa.line_spacing_m == sb.line_spacing_m and sa.trigger_distance_m == sb.trigger_distance_m


def test_gsd_in_centimetres(tmp_path):
    res = _demo(tmp_path, "--gsd", 2.0)
    assert res.exit_code == 0, res.output
    assert read_plan(tmp_path / "demo.plan").stats.gsd_m == pytest.approx(0.02, rel=1e-6)
    assert "2.00 cm/px" in res.output


def test_parse_fraction():
    assert parse_fraction("75", "x") == 0.75 == parse_fraction("0.75", "x") == parse_fraction("75%", "x")
    with pytest.raises(InvalidInputError, match="--front-overlap must be between 0 and 95 %, got '120'"):
        parse_fraction("120", "--front-overlap")
    with pytest.raises(InvalidInputError, match="must be a percentage like 75"):
        parse_fraction("lots", "--side-overlap")


def test_alt_and_gsd_are_exclusive(tmp_path):
    res = _demo(tmp_path, "--alt", 60, "--gsd", 2)
    assert res.exit_code == 2 and "exactly one of --alt M or --gsd CM" in res.output
    res = _demo(tmp_path)
    assert res.exit_code == 2 and "exactly one of --alt M or --gsd CM" in res.output


def test_short_battery_gives_sorties_and_per_sortie_files(tmp_path):
    profiles = tmp_path / "fleet.toml"
    profiles.write_text('[aircraft.tiny-quad]\nbase = "arducopter-quad"\nendurance_s = 360\n'
                        'reserve_fraction = 0.2\n')
    res = _demo(tmp_path, "--alt", 60, "--aircraft", "tiny-quad", "--profiles", profiles)
    assert res.exit_code == 0, res.output
    plan = read_plan(tmp_path / "demo.plan")
    n = len(plan.sorties)
    assert n > 1 and f"per-sortie files (demo-sortie1.plan \u2026 demo-sortie{n}.plan)" in res.output
    for k in range(1, n + 1):
        one = read_plan(tmp_path / f"demo-sortie{k}.plan")
        assert len(one.sorties) == 1
        assert one.sorties[0].items[-1].lat == plan.sorties[k - 1].items[-1].lat


def test_drones_write_one_plan_each(tmp_path):
    res = _demo(tmp_path, "--alt", 60, "--drones", 2, out="team.plan")
    assert res.exit_code == 0, res.output
    p1, p2 = read_plan(tmp_path / "team-drone1.plan"), read_plan(tmp_path / "team-drone2.plan")
    assert p1.settings["drone"] == 1 and p2.settings["drone"] == 2


def test_show_prints_statistics_and_validation(demo_plan):
    path, _ = demo_plan
    res = run("show", path)
    assert res.exit_code == 0, res.output
    assert "validation: OK" in res.output and "photos" in res.output
    res = run("show", path, "--json")
    data = json.loads(res.output)
    assert data["valid"] is True and data["photo_count"] > 0 and data["sorties"] >= 1


def test_show_reports_every_problem_and_fails(demo_plan):
    path, _ = demo_plan
    res = run("show", path, "--max-items", 10)
    assert res.exit_code == 2
    assert "breaks" in res.output and "Traceback" not in res.output
    assert "  - " in res.output and "10" in res.output


def test_show_flags_a_fence_too_big_for_the_vehicle(demo_plan):
    path, _ = demo_plan
    res = run("show", path, "--max-fence-points", 5)
    assert res.exit_code == 2
    assert "the fence has" in res.output and "the vehicle stores 5" in res.output
    # without the option, show validates against what the plan was made for (60 points)
    assert read_plan(path).settings["max_fence_points"] == 60
    assert run("show", path).exit_code == 0


def test_sector_name_may_be_the_start_of_the_full_name(tmp_path):
    res = run("survey", sample_path("park_sectors"), "--sector-name", "sector 8", "--camera", "mavic3e-wide",
              "--alt", 120, "--max-items", 650, "-o", tmp_path / "s8.plan")
    assert res.exit_code == 0, res.output
    assert read_plan(tmp_path / "s8.plan").name == "sector 8"
    res = run("survey", sample_path("park_sectors"), "--sector-name", "Sector", "--camera", "mavic3e-wide",
              "--alt", 120, "-o", tmp_path / "sx.plan")
    assert res.exit_code == 2 and "'Sector' matches several sectors" in res.output


def test_export_to_every_format(demo_plan, tmp_path):
    import pyogrio

    path, _ = demo_plan
    plan = read_plan(path)
    res = run("export", path, "--to", "waypoints", "-o", tmp_path / "d.waypoints")
    assert res.exit_code == 0, res.output
    # one file per sortie when the battery splits the survey (sortie 1 is the one compared)
    wp_path = tmp_path / ("d.waypoints" if len(plan.sorties) == 1 else "d-sortie1.waypoints")
    wp = read_waypoints(wp_path)
    assert len(wp.items) == len(plan.sorties[0].items) and wp.items[0].lat == pytest.approx(43.1341)
    res = run("export", path, "--to", "kml", "-o", tmp_path / "d.kml")
    assert res.exit_code == 0, res.output
    root = ET.parse(tmp_path / "d.kml").getroot()
    assert root.tag.endswith("kml")
    res = run("export", path, "-o", tmp_path / "d.kmz", "--photos")
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(tmp_path / "d.kmz") as zf:
        assert "photo" in zf.read("doc.kml").decode()
    res = run("export", path, "--to", "geojson", "-o", tmp_path / "d.geojson")
    assert res.exit_code == 0, res.output
    _meta, _f, geoms, _fields = pyogrio.raw.read(str(tmp_path / "d.geojson"))
    assert len(geoms) > 10
    res = run("show", wp_path)
    assert res.exit_code == 0 and "imported plan" in res.output


def _bowtie(tmp_path):
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {"name": "Sector 5"}, "geometry": {
        "type": "Polygon", "coordinates": [[[131.23, 43.09], [131.26, 43.11], [131.26, 43.09],
                                            [131.23, 43.11], [131.23, 43.09]]]}}))
    return path


@pytest.mark.parametrize("case, message", [
    ("selfintersect", "boundary crosses itself near lat 43.10000, lon 131.24500"),
    ("unknown_name", "no sector named 'Sector 99'; the file has: 'Sector 7"),
    ("corrupt", "cannot read"),
    ("missing", "file not found"),
    ("camera", "unknown camera 'gopro'; known:"),
    ("swapped", "latitude/longitude look swapped"),
    ("tiny", "too small to plan over"),
])
def test_bad_input_gives_a_message_not_a_traceback(tmp_path, case, message):
    sector = sample_path("demo_sector")
    extra = []
    camera = "mavic3e-wide"
    if case == "selfintersect":
        sector = _bowtie(tmp_path)
    elif case == "unknown_name":
        sector = sample_path("park_sectors")
        extra = ["--sector-name", "Sector 99"]
    elif case == "corrupt":
        sector = tmp_path / "bad.gpkg"
        sector.write_bytes(b"garbage" * 100)
    elif case == "missing":
        sector = tmp_path / "nowhere.kml"
    elif case == "camera":
        camera = "gopro"
    elif case in ("swapped", "tiny"):
        sector = tmp_path / f"{case}.geojson"
        ring = [[131.2670, 43.1330], [131.2731, 43.1331], [131.2733, 43.1367], [131.2670, 43.1330]]
        if case == "swapped":
            ring = [[y, x] for x, y in ring]
        else:
            ring = [[131.2670, 43.1330], [131.26702, 43.1330], [131.26702, 43.13302], [131.2670, 43.1330]]
        sector.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    res = run("survey", sector, "--camera", camera, "--alt", 60, "-o", tmp_path / "x.plan", *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x.plan").exists()


def test_corridor_lookout_and_perimeter(tmp_path):
    pytest.importorskip("missions.corridor")
    pytest.importorskip("missions.lookout")
    res = run("corridor", sample_path("demo_road"), "--width", 60, "--camera", "m3t-thermal",
              "--alt", 50, "--home", HOME, "-o", tmp_path / "road.plan")
    assert res.exit_code == 0, res.output
    assert read_plan(tmp_path / "road.plan").kind.value == "corridor"
    licks = tmp_path / "licks.geojson"
    licks.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"lick {k}"},
         "geometry": {"type": "Point", "coordinates": [131.2690 + 0.001 * k, 43.1350]}} for k in range(2)]}))
    res = run("lookout", licks, "--radius", 30, "--time", 60, "--alt", 50, "--home", HOME,
              "-o", tmp_path / "licks.plan")
    assert res.exit_code == 0, res.output
    assert read_plan(tmp_path / "licks.plan").kind.value == "lookout"
    res = run("perimeter", sample_path("demo_sector"), "--inset", 20, "--laps", 2, "--alt", 50,
              "--home", HOME, "-o", tmp_path / "edge.plan")
    assert res.exit_code == 0, res.output
    edge = read_plan(tmp_path / "edge.plan")
    assert edge.kind.value == "perimeter"


def test_a_plan_takes_the_sectors_own_name_and_says_what_rally_points_it_has(tmp_path):
    # The sector file names its sector: the plan is called that, not after the file.
    out = tmp_path / "x.plan"
    res = run("survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 80,
              "--home", HOME, "-o", out)
    assert res.exit_code == 0, res.output
    assert read_plan(out).name == "Demo sector \u2014 Kedrovaya clearing"
    assert "rally points    none: RTL returns to the launch point" in res.output
    edge = tmp_path / "edge.plan"
    res = run("perimeter", sample_path("demo_sector"), "--inset", 30, "--alt", 60, "--home", HOME,
              "--rally", "43.1345,131.2680", "--rally", "43.1350,131.2690,40", "-o", edge)
    assert res.exit_code == 0, res.output
    assert read_plan(edge).name == "Demo sector \u2014 Kedrovaya clearing"
    assert "rally points    2" in res.output
    doc = json.loads(edge.read_text())
    assert [p[:2] for p in doc["rallyPoints"]["points"]] == [[43.1345, 131.268], [43.135, 131.269]]
    named = tmp_path / "named.plan"
    res = run("survey", sample_path("demo_sector"), "--camera", "mavic3e-wide", "--alt", 80,
              "--home", HOME, "--name", "Kedrovaya spring", "-o", named)
    assert res.exit_code == 0 and read_plan(named).name == "Kedrovaya spring"
    road = tmp_path / "road.plan"
    res = run("corridor", sample_path("road_a189"), "--width", 100, "--camera", "m3t-thermal",
              "--alt", 120, "--aircraft", "mavic3t", "-o", road)
    assert res.exit_code == 0, res.output
    assert read_plan(road).name == "Highway A189 stretch (made up)"


def test_help_texts_speak_of_their_own_command():
    for cmd in ("corridor", "lookout", "perimeter"):
        res = run(cmd, "--help")
        assert res.exit_code == 0
        assert "--drones" not in res.output, cmd
    assert "once per drone" in run("survey", "--help").output


def test_the_command_line_builds_requests_not_signature_matching():
    # The planners' contract is the request dataclasses; the CLI neither inspects signatures nor
    # reaches into private helpers of the formats.
    import ast
    import inspect as _inspect

    import uav.cli.plan as cli_plan

    tree = ast.parse(_inspect.getsource(cli_plan))
    imported = {(n.module or "", a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imported |= {("", a.name) for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name == "inspect" for _, name in imported)
    assert not [f"{m}.{name}" for m, name in imported if name.startswith("_")]
