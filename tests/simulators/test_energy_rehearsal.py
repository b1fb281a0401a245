"""What the planner accepts, its rehearsal flies within the battery: README's corridor example.

``uav plan corridor … --aircraft mavic3t`` then ``uav rehearse`` on the selected backend (the
built-in copter, or ArduPilot's SITL with ``pytest --backend ardupilot``): every sortie lands
with the reserve untouched, and the charge it used is the planner's estimate within 10 %.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from missions.data import sample_path
from missions.formats.qgc_plan import read_plan
from uav.cli import cli


def _a189_plan(tmp_path):
    plan_path = tmp_path / "a189.plan"
    res = CliRunner().invoke(cli, ["plan", "corridor", str(sample_path("road_a189.geojson")),
                                   "--width", "100", "--camera", "m3t-thermal", "--alt", "120",
                                   "--aircraft", "mavic3t", "-o", str(plan_path)])
    assert res.exit_code == 0, res.output
    return plan_path, read_plan(plan_path)


@pytest.mark.slow
def test_readme_corridor_example_passes_its_rehearsal(sim_backend, tmp_path):
    """Every sortie on the built-in copter; on SITL (three minutes for all of them at the
    speed-up two cores keep) the first, whose battery use is checked against ArduPilot's."""
    plan_path, plan = _a189_plan(tmp_path)
    usable = plan.aircraft.energy.usable_mah
    out = tmp_path / "rehearsal.json"
    only = ["--sortie", "1"] if sim_backend == "ardupilot" else []
    res = CliRunner().invoke(cli, ["rehearse", str(plan_path), "--backend", sim_backend,
                                   "--speedup", "40" if sim_backend == "ardupilot" else "100",
                                   "-o", str(out), *only])
    report = json.loads(out.read_text()) if out.exists() else None
    assert res.exit_code == 0 and report and report["ok"], res.output
    assert len(report["sorties"]) == (1 if only else len(plan.sorties)) and len(plan.sorties) > 1
    for s in report["sorties"]:
        assert s["battery_capacity_mah"] == pytest.approx(plan.aircraft.battery_capacity_mah, rel=1e-3)
        assert s["battery_predicted_mah"] <= usable
        assert s["battery_used_mah"] <= usable, s
        assert s["battery_used_mah"] == pytest.approx(s["battery_predicted_mah"], rel=0.10), s


@pytest.mark.slow
def test_rehearse_flies_only_the_sortie_asked_for_numbered_as_the_plan(tmp_path):
    plan_path, plan = _a189_plan(tmp_path)
    last = len(plan.sorties)
    res = CliRunner().invoke(cli, ["rehearse", str(plan_path), "--backend", "builtin", "--sortie", str(last + 1)])
    assert res.exit_code == 2 and f"there is no sortie {last + 1}" in res.output, res.output
    assert "Traceback" not in res.output
    out = tmp_path / "last.json"
    res = CliRunner().invoke(cli, ["rehearse", str(plan_path), "--backend", "builtin", "--speedup", "100",
                                   "--sortie", str(last), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"OK (sortie {last} of {last} only)" in res.output and f"  sortie {last}: flown" in res.output
    report = json.loads(out.read_text())
    assert [s["index"] for s in report["sorties"]] == [last] and report["sorties_planned"] == last


def test_a_sortie_eating_the_reserve_is_a_problem():
    """The verdict: over the usable charge by more than the model's tolerance."""
    from simulators.rehearsal import SortieReport, _battery_verdict
    from uav.items import Home, Mission
    from uav.profiles import get_aircraft

    class _Plan:
        aircraft = get_aircraft("mavic3e")

    sortie = Mission(items=[Home(43.1, 131.4, 100.0).as_item()])

    def verdict(used):
        sr = SortieReport(index=1, planned_time_s=None, flown_time_s=0.0, planned_photos=0,
                          photos_taken=0, battery_capacity_mah=5000.0, battery_used_mah=used,
                          battery_remaining_pct=None, max_cross_track_m=None)
        _battery_verdict(sr, _Plan, sortie)
        return sr.problems

    assert verdict(3750.0) == [] and verdict(4100.0) == []     # usable 3750, +10 % tolerated
    problems = verdict(4200.0)
    assert problems and "used 4200 of 5000 mAh, into the 25% reserve (usable 3750 mAh)" in problems[0]
