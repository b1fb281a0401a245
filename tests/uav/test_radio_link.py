"""Uploads over a telemetry radio (simulators.radio through the fault proxy): a radio pulled out
mid-upload, fades, and the last words of a failed upload.  Run on both vehicles
(``--backend ardupilot`` for the real SITL)."""

import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from test_mission_transfer import survey  # noqa: E402

from missions.formats.qgc_plan import write_plan  # noqa: E402
from missions.model import Plan, PlanKind  # noqa: E402
from simulators.faults import FaultyLink  # noqa: E402
from simulators.radio import RadioChannel, radio_model  # noqa: E402
from uav.cli import cli  # noqa: E402
from uav.errors import MissionUploadError  # noqa: E402
from uav.items import MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.mission_transfer import MissionTransfer  # noqa: E402
from uav.link.reconnect import enable_reconnect  # noqa: E402
from uav.link.upload import upload_verified  # noqa: E402
from uav.link.verify import verify_items  # noqa: E402

HOME = (43.1, 131.5, 120.0, 0.0)
# a SiK radio's airtime and burst loss, with a short latency so the tests stay quick
QUICK_SIK = dict(latency_s=(0.01, 0.03))


@pytest.fixture
def sim(vehicle_factory):
    # real time: a sped-up vehicle streams telemetry faster than a 57.6 kbaud radio carries,
    # and its 8 s upload timeout would pass in less than a fade
    return vehicle_factory(home=HOME, speedup=1)


def held(sim, mtype=MissionType.MISSION):
    """What the vehicle holds, read over a clean link of its own (not through the proxy)."""
    with connect(sim.connection_string, timeout=10) as link:
        return MissionTransfer(link).download(mtype).items


# --- the radio model itself ---------------------------------------------------------------------
def test_airtime_is_shared_by_both_directions_at_the_baud_rate():
    import random

    m = radio_model("sik-57600", loss_good=0, loss_bad=0, good_to_bad=0, latency_s=(0.1, 0.1))
    ch = RadioChannel(m, random.Random(1), start=0.0)
    up = ch.send("to_vehicle", 576, now=0.0)  # 5760 bits: 0.1 s of air at 57,600 bit/s
    down = ch.send("to_gcs", 576, now=0.0)  # half duplex: waits for the first
    assert up == pytest.approx(0.2) and down == pytest.approx(0.3)
    full = radio_model(m, half_duplex=False)
    ch = RadioChannel(full, random.Random(1), start=0.0)
    assert ch.send("to_vehicle", 576, 0.0) == pytest.approx(ch.send("to_gcs", 576, 0.0))
    # 19.2 kbaud: three times the airtime
    slow = RadioChannel(radio_model(m, baud=19200), random.Random(1), start=0.0)
    assert slow.send("to_vehicle", 576, 0.0) == pytest.approx(0.4)


def test_burst_loss_comes_in_runs_and_fades_lose_everything():
    import random

    m = radio_model("sik-57600", fades=((1000.0, 3.0),), buffer_bytes=10**9)
    ch = RadioChannel(m, random.Random(5), start=0.0)
    lost = [ch.send("to_gcs", 30, now=i * 0.01) is None for i in range(20000)]
    rate = sum(lost) / len(lost)
    assert abs(rate - m.mean_loss) < 0.02, (rate, m.mean_loss)
    runs = sum(1 for a, b in zip(lost, lost[1:], strict=False) if a and b)
    assert runs / max(sum(lost), 1) > 0.3  # a loss is often followed by another (bursts)
    assert all(ch.send("to_gcs", 30, now=1000.0 + i * 0.01) is None for i in range(200))
    assert ch.counters["faded"] >= 200
    # the same seed, the same losses
    again = RadioChannel(m, random.Random(5), start=0.0)
    assert [again.send("to_gcs", 30, now=i * 0.01) is None for i in range(20000)] == lost


def test_bad_radio_settings_are_refused_with_the_reason():
    from uav.errors import SimulatorError

    with pytest.raises(SimulatorError, match="unknown radio 'sik-9600'"):
        radio_model("sik-9600")
    with pytest.raises(SimulatorError, match="loss_bad must be a probability"):
        radio_model("sik-57600", loss_bad=2)
    with pytest.raises(SimulatorError, match="need a tcp: target"):
        FaultyLink("udp:127.0.0.1:14550", radio=radio_model("sik-57600", drops=((1, 1),)))


# --- uploads over it ----------------------------------------------------------------------------
@pytest.mark.slow
def test_upload_carries_on_after_the_radio_is_pulled_out_and_back(sim):
    mission = survey(60)
    radio = radio_model("sik-57600", drops=((2.5, 2.0),), **QUICK_SIK)
    events = []
    with FaultyLink(sim.connection_string, radio=radio, seed=3) as proxy:
        with connect(proxy.connection_string, timeout=10) as link:
            enable_reconnect(link, 20, events.append)
            report = upload_verified(link, mission)
        assert proxy.drops_done, "the proxy never cut the link: the test proves nothing"
    assert link.reconnects >= 1
    assert any("was lost; reconnecting" in e for e in events)
    assert any("is back after" in e for e in events)
    assert "mission: 60 items, new, verified" in report.describe()
    verify_items(mission.items, held(sim), MissionType.MISSION)  # an independent read-back


@pytest.mark.slow
def test_upload_survives_a_fade_without_starting_the_list_again(sim):
    mission = survey(80)
    # a 6 s fade a second into the transfer: everything lost both ways, heartbeats included
    radio = radio_model("sik-57600", fades=((1.5, 6.0),), loss_good=0, loss_bad=0,
                        good_to_bad=0, **QUICK_SIK)
    stages = []
    with FaultyLink(sim.connection_string, radio=radio, seed=4) as proxy, \
            connect(proxy.connection_string, timeout=10) as link:
        report = upload_verified(link, mission, fence=False, rally=False,
                                 progress=lambda stage, d, n: stages.append(stage))
        assert proxy.counters["to_vehicle"]["dropped"] > 0  # the fade happened mid-transfer
    assert report.lists[MissionType.MISSION].state == "verified"
    assert not [s for s in stages if "retry" in s], stages  # resumed, never restarted
    verify_items(mission.items, held(sim), MissionType.MISSION)


@pytest.mark.slow
def test_a_link_that_never_comes_back_says_what_the_aircraft_holds(sim, tmp_path):
    plan_path = tmp_path / "sector7.plan"
    write_plan(Plan(kind=PlanKind.SURVEY, sorties=[survey(120)]), plan_path)
    with FaultyLink(sim.connection_string, radio=radio_model("sik-57600", **QUICK_SIK),
                    seed=5) as proxy:

        def pull_out_once_the_mission_is_going():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proxy.counters["to_vehicle"]["frames"] < 90:
                time.sleep(0.05)
            proxy.cut(600)  # never back within --reconnect

        threading.Thread(target=pull_out_once_the_mission_is_going, daemon=True).start()
        res = CliRunner().invoke(cli, ["upload", str(plan_path), "--connect",
                                       proxy.connection_string, "--reconnect", "3"])
    assert res.exit_code == 2, res.output
    last = res.output.strip().splitlines()[-1]
    assert "On the vehicle now:" in last and "Do not fly this sortie" in last, res.output
    assert "did not come back within 3 s" in last
    assert "mission: unknown - could not read it back (the link is lost)" in last
    assert "Traceback" not in res.output
    # and what it says is true: the fence went up whole before the cut, the mission did not
    assert len(held(sim, MissionType.FENCE)) == 4
    assert len(held(sim)) != len(survey(120).items)


@pytest.mark.slow
def test_ctrl_c_mid_upload_reads_back_and_says_not_to_fly(sim):
    mission = survey(120)
    with FaultyLink(sim.connection_string, radio=radio_model("sik-57600", **QUICK_SIK),
                    seed=6) as proxy, connect(proxy.connection_string, timeout=10) as link:

        def progress(stage, done, total):
            if stage == "mission upload" and done == 30:
                raise KeyboardInterrupt  # where a pilot's Ctrl-C lands

        with pytest.raises(MissionUploadError) as exc:
            upload_verified(link, mission, progress=progress)
    msg = str(exc.value)
    assert msg.startswith("upload stopped by Ctrl-C. On the vehicle now:"), msg
    assert "fence: 4 items, new, verified; rally: 1 items, new, verified" in msg
    assert "of the 119 mission items (plus home) sent - incomplete" in msg
    assert "Do not fly this sortie" in msg
    n = int(msg.split("mission: holds ")[1].split(" of ")[0])
    assert len(held(sim)) == n + 1  # the report's count is what the vehicle holds


def test_a_link_losing_what_we_send_is_not_blamed_on_signing(sim):
    with FaultyLink(sim.connection_string, to_vehicle={"drop": 1.0}) as proxy:
        res = CliRunner().invoke(cli, ["status", "--connect", proxy.connection_string,
                                       "--timeout", "3"])
    assert res.exit_code == 2
    assert "answered none of our requests in 3 s" in res.output
    assert "signing" not in res.output


# --- commands over it ---------------------------------------------------------------------------
@pytest.mark.slow
def test_mode_arm_takeoff_and_rtl_survive_lost_acks(sim):
    from pymavlink.dialects.v20 import ardupilotmega as M

    from uav.link import control

    # half the frames coming down are lost (acks, heartbeats, positions alike), seeded
    with FaultyLink(sim.connection_string, to_gcs={"drop": 0.5}, seed=8) as proxy, \
            connect(proxy.connection_string, timeout=20) as link:
        sent = []
        link.add_send_listener(lambda buf: sent.append(buf))
        control.takeoff(link, 10.0, timeout=90)
        control.rtl(link)
        lost = proxy.counters["to_gcs"]["dropped"]
    assert lost > 20
    with connect(sim.connection_string, timeout=10) as clean:
        assert control.mode_name(control.heartbeat(clean).custom_mode) == "RTL"
    longs = [b for b in sent if len(b) > 10 and b[7:10] == (M.MAVLINK_MSG_ID_COMMAND_LONG)
             .to_bytes(3, "little")]
    assert len(longs) >= 4  # mode, arm, takeoff, mode: some of them sent again


@pytest.mark.slow
def test_a_radio_that_goes_silent_for_good_ends_with_what_the_aircraft_holds(sim, tmp_path):
    plan_path = tmp_path / "sector7.plan"
    write_plan(Plan(kind=PlanKind.SURVEY, sorties=[survey(200)]), plan_path)
    # everything lost from 4 s on, for longer than any wait (heartbeats included)
    radio = radio_model("sik-57600", fades=((4.0, 600.0),), **QUICK_SIK)
    with FaultyLink(sim.connection_string, radio=radio, seed=9) as proxy:
        res = CliRunner().invoke(cli, ["upload", str(plan_path), "--connect",
                                       proxy.connection_string, "--reconnect", "5"])
    assert res.exit_code == 2, res.output
    last = res.output.strip().splitlines()[-1]
    assert "nothing heard from the vehicle for" in last, last
    assert "On the vehicle now:" in last and "Do not fly this sortie" in last
    assert "could not read it back" in last and "Traceback" not in res.output
