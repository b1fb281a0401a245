"""`uav rehearse PLAN --connect URL`: fly on the simulator the pilot started (and watches in
QGroundControl), and report how long each lookout point was watched."""

import pytest
from click.testing import CliRunner

from missions.formats.qgc_plan import write_plan
from missions.lookout import plan_lookout
from uav.cli import cli
from uav.items import MissionType
from uav.link import connect
from uav.link.mission_transfer import MissionTransfer
from uav.profiles import get_aircraft

HOME = (43.1341, 131.2674, 142.0, 0.0)


@pytest.fixture
def lookout_plan(tmp_path):
    # two salt licks ~150 m from home, a 20 m orbit for 40 s at each
    points = [(HOME[1] + 0.0015, HOME[0] + 0.0008, "lick 1"),
              (HOME[1] - 0.0012, HOME[0] + 0.0011, "lick 2")]
    plan = plan_lookout(points, aircraft=get_aircraft("arducopter-quad"), radius_m=20,
                        time_s=40, altitude_m=30, home=HOME[:2], home_alt_amsl=HOME[2],
                        name="licks")
    path = tmp_path / "licks.plan"
    write_plan(plan, path)
    return plan, path


@pytest.mark.slow
def test_rehearse_flies_on_the_running_simulator_and_reports_watch_time(vehicle_factory,
                                                                         lookout_plan):
    plan, path = lookout_plan
    sim = vehicle_factory(home=HOME, speedup=20)  # what `uav sim start` runs
    res = CliRunner().invoke(cli, ["rehearse", str(path), "--connect", sim.connection_string])
    assert res.exit_code == 0, res.output
    assert f"on the simulator at {sim.connection_string}" in res.output
    assert "Starting a simulator of its own" not in res.output
    watched = [line for line in res.output.splitlines() if "lookout at item" in line]
    assert len(watched) == 2, res.output
    for line in watched:
        seconds, planned = line.split("watched ")[1].split(" s planned")[0].split(" s of ")
        # each point watched at least the 40 s asked (whole turns: a fraction would be cut off)
        assert float(planned) >= 40 and float(seconds) >= 40, line
    # the mission is on the simulator the pilot watches, not on a hidden one
    with connect(sim.connection_string, timeout=10) as link:
        held = MissionTransfer(link).download(MissionType.MISSION).items
    assert len(held) == len(plan.sorties[-1].items)


def test_rehearse_refuses_a_running_simulator_far_from_the_plan(vehicle_factory, lookout_plan):
    _plan, path = lookout_plan
    sim = vehicle_factory(home=(43.5, 131.9, 100.0, 0.0), speedup=20)
    res = CliRunner().invoke(cli, ["rehearse", str(path), "--connect", sim.connection_string])
    assert res.exit_code == 2, res.output
    assert "km from the plan's home" in res.output
    assert "uav sim start --home 43.134100,131.267400,142,0" in res.output


def test_rehearse_without_connect_says_it_starts_its_own(lookout_plan, monkeypatch):
    import simulators.rehearsal as rehearsal

    _plan, path = lookout_plan
    monkeypatch.setattr(rehearsal, "rehearse", lambda *a, **k: (_ for _ in ()).throw(
        SystemExit(3)))
    res = CliRunner().invoke(cli, ["rehearse", str(path), "--backend", "builtin"])
    assert "Starting a simulator of its own (builtin" in res.output
    assert "--connect" in res.output


def test_a_sortie_far_past_its_planned_time_is_sent_home_and_reported(vehicle_factory, lookout_plan,
                                                                     monkeypatch):
    """A rehearsal does not watch a stuck sortie until the 4 h limit: past 3x its planned time
    (and a margin, 0 here so the test is short) it is sent home and the report says why."""
    from dataclasses import replace

    import simulators.rehearsal as rehearsal

    plan, _ = lookout_plan
    monkeypatch.setattr(rehearsal, "OVERRUN_MARGIN_S", 0.0)
    short = replace(plan, stats=replace(plan.stats, sortie_times_s=[10.0]))  # it takes ~4 min
    sim = vehicle_factory(home=HOME, speedup=20)
    report = rehearsal.rehearse(short, connect_url=sim.connection_string)
    (s,) = report.sorties
    assert any("3x its planned 0.2 min" in p and "sent home (RTL)" in p for p in s.problems), s.problems
    assert 30.0 <= s.flown_time_s < 40.0 and not s.completed
    with connect(sim.connection_string, timeout=10) as link:
        from uav.link import control

        control.wait_mode(link, "RTL", 10)
