"""`uav rehearse`: a survey flown on the simulator matches its plan, and the camera sees the truth."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from missions.data import sample_path
from missions.formats.qgc_plan import write_plan
from missions.sectors import read_areas, read_sector
from missions.survey import plan_survey
from simulators.rehearsal import planned_photos, rehearse
from uav.cli import cli
from uav.profiles import get_aircraft, get_camera

HOME = (43.1341, 131.2674)
HOME_ALT = 142.0


@pytest.fixture(scope="module")
def small_plan():
    # A sparse survey of the demo sector: a few lines, quick to fly at high speed-up.
    sector = read_sector(sample_path("demo_sector.geojson"))
    return plan_survey(sector, camera=get_camera("mavic3e-wide"),
                       aircraft=get_aircraft("arducopter-quad"),
                       exclusions=read_areas(sample_path("demo_exclusion.geojson")),
                       altitude_m=90, front_overlap=0.6, side_overlap=0.3,
                       home=HOME, home_alt_amsl=HOME_ALT, name="rehearsal test")



@pytest.mark.slow
def test_rehearsal_flies_every_leg_and_takes_the_planned_photos(small_plan, sim_backend, tmp_path):
    frames = tmp_path / "frames"
    report = rehearse(small_plan, backend=sim_backend, speedup=80, frames_out=frames,
                      track_out=tmp_path / "track.geojson")
    assert report.sorties, "no sortie flown"
    s = report.sorties[0]
    assert s.ok, report.describe()
    # every navigation item reached, landed and disarmed
    assert s.completed and s.landed
    # photo count within a few percent of what the plan's trigger distance implies
    assert s.planned_photos == planned_photos(small_plan.sorties[0]) > 10
    assert abs(s.photos_taken - s.planned_photos) <= max(2, 0.05 * s.planned_photos), report.describe()
    # flight time close to the planner's estimate (the estimate is for the pilot's battery plan)
    assert s.planned_time_s and 0.7 < s.flown_time_s / s.planned_time_s < 1.3, report.describe()
    assert s.max_cross_track_m is not None and s.max_cross_track_m < 15.0
    assert s.fence_breaches == []
    assert s.battery_used_mah and 0 < s.battery_used_mah < s.battery_capacity_mah
    track = json.loads((tmp_path / "track.geojson").read_text())
    assert len(track["features"][0]["geometry"]["coordinates"]) > 50

    # The frames show the planted objects where the truth file says.
    truth = json.loads((frames / "truth.json").read_text())
    jpgs = sorted(frames.glob("*.jpg"))
    assert len(jpgs) == s.photos_taken
    seen_fire = 0
    for fr in truth["frames"]:
        for vis in fr.get("objects", []):
            if vis["kind"] != "fire":
                continue
            img = cv2.imread(str(frames / fr["file"]))
            x0, y0, x1, y1 = (int(round(v)) for v in vis["box"])
            patch = img[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1].reshape(-1, 3).astype(int)
            b, r = patch[:, 0], patch[:, 2]
            # flame colours: red well above blue, bright
            assert np.mean((r > 150) & (r > b + 60)) > 0.2, fr["file"]
            seen_fire += 1
    assert seen_fire >= 1


@pytest.mark.slow
def test_rehearse_cli_writes_report_and_track(small_plan, sim_backend, tmp_path):
    plan_path = tmp_path / "small.plan"
    write_plan(small_plan, plan_path)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["rehearse", str(plan_path), "--backend", sim_backend,
                                      "--speedup", "80", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "sortie 1" in result.output and "OK" in result.output
    report = json.loads(out.read_text())
    assert report["ok"] and report["sorties"][0]["photos_taken"] > 10
    assert (tmp_path / "report-track.geojson").exists()


def test_rehearse_cli_refuses_a_missing_plan(tmp_path):
    result = CliRunner().invoke(cli, ["rehearse", str(tmp_path / "nope.plan")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_a_cleared_fence_breach_is_not_counted_as_another():
    from simulators.rehearsal import is_fence_breach_text

    assert is_fence_breach_text("Circle fence breached")
    assert is_fence_breach_text("Max Alt and Polygon fences breached")
    assert not is_fence_breach_text("Fence breach cleared")
