"""``uav upload | download | fly | status``: the plan onto the aircraft, whole, and the flight.

Heavy imports (pymavlink, the plan reader) happen inside the commands.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

connect_option = click.option(
    "--connect", "url", required=True, metavar="URL",
    help="udp:HOST:PORT or udpin:HOST:PORT (listen), udpout:HOST:PORT (send), tcp:HOST:PORT, "
         "tcpin:HOST:PORT or a serial device such as /dev/ttyUSB0:57600")
key_option = click.option(
    "--signing-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="This aircraft's MAVLink2 signing key file: sign everything, refuse unsigned answers.")
timeout_option = click.option("--timeout", type=float, default=10.0, show_default=True,
                              help="Seconds to wait for the vehicle's heartbeat.")


class StageBars:
    """One progress bar per transfer stage; transfers shorter than a moment get none.

    A bar appears only once a stage has run for ``delay_s`` and redraws at most ten times a
    second, so a fast link is not slowed down by drawing one bar step per item.
    """

    min_items = 20
    delay_s = 0.5

    def __init__(self):
        self.stage = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            if total == 0:
                click.echo(f"  {stage} (the link lost the transfer; starting it again)",
                           err=True)
            elif total >= self.min_items:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=stage, unit="item", leave=False,
                                delay=self.delay_s, mininterval=0.1)
        if self.bar is not None and done > self.bar.n:
            self.bar.update(done - self.bar.n)  # tqdm redraws only every mininterval

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _connect(url: str, signing_key: Path | None, timeout: float, telemetry: bool = True):
    from uav.errors import LinkError
    from uav.link import connect

    # a transfer needs no telemetry streams: on a radio their airtime would slow it down
    link = connect(url, timeout=timeout, signing_key=signing_key,
                   stream_rate_hz=4.0 if telemetry else 0.0)
    if not link.answered:
        signed = link.signed_frames
        link.close()
        if signed and not signing_key:
            raise LinkError(f"the vehicle on {url} sends heartbeats but answered nothing we "
                            f"sent, and its messages are signed ({signed} seen): MAVLink2 "
                            "signing is set up on it; give its key with --signing-key")
        raise LinkError(f"the vehicle on {url} sends heartbeats but answered none of our "
                        f"requests in {timeout:g} s: the link reaches us but not the vehicle, "
                        "or loses most of what we send (radio antenna, range, a one-way "
                        "cable or udpout port?); try again closer, or with a longer --timeout")
    signed = f", signed with {link.signing}" if link.signing else ""
    click.echo(f"Connected to {link.vehicle.describe()} on {url}{signed}", err=True)
    return link


@click.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False, path_type=Path))
@connect_option
@click.option("--no-fence", is_flag=True, help="Leave the vehicle's geofence as it is.")
@click.option("--no-rally", is_flag=True, help="Leave the vehicle's rally points as they are.")
@key_option
@click.option("--sortie", type=int, default=1, show_default=True,
              help="Which sortie of a multi-sortie plan to put on the aircraft (1 = first).")
@timeout_option
@click.option("--reconnect", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="S", help="If the link closes or goes silent (a radio unplugged or "
              "behind a ridge), open it again for up to S seconds and carry on (0: give up "
              "at once).")
def upload(plan_path, url, no_fence, no_rally, signing_key, sortie, timeout, reconnect):
    """Put a plan on the aircraft: fence, rally points, then mission, each read back and
    compared item by item. Nothing is reported as done until it is verified."""
    from missions.formats.qgc_plan import read_plan
    from uav.errors import InvalidInputError
    from uav.link.mission_transfer import TransferSettings
    from uav.link.reconnect import enable_reconnect
    from uav.link.upload import upload_verified

    plan = read_plan(plan_path)
    if not 1 <= sortie <= len(plan.sorties):
        raise InvalidInputError(f"{plan_path} has {len(plan.sorties)} sortie(s); "
                                f"--sortie {sortie} does not exist")
    mission = plan.sorties[sortie - 1]
    settings = TransferSettings(fade_s=max(TransferSettings.fade_s, reconnect))
    with _connect(url, signing_key, timeout, telemetry=False) as link, StageBars() as bars:
        def tell(text: str) -> None:
            bars.close()
            click.secho(f"  {text}", fg="yellow", err=True)

        enable_reconnect(link, reconnect, tell)
        report = upload_verified(link, mission, fence=not no_fence, rally=not no_rally,
                                 progress=bars, settings=settings)
    for mtype in report.lists:
        click.echo(report.lists[mtype].describe())
    click.secho(f"Verified on the aircraft in {report.seconds:.2f} s: sortie {sortie} of "
                f"{plan_path.name}", fg="green")


@click.command()
@connect_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .plan file to write.")
@key_option
@timeout_option
def download(url, output, signing_key, timeout):
    """Read the mission, fence and rally points off the aircraft into a .plan file."""
    from missions.formats.qgc_plan import write_plan
    from missions.model import Plan, PlanKind
    from uav.items import Mission, MissionType
    from uav.link.mission_transfer import MissionTransfer

    with _connect(url, signing_key, timeout, telemetry=False) as link, StageBars() as bars:
        t = MissionTransfer(link)
        lists = {}
        for mtype in (MissionType.MISSION, MissionType.FENCE, MissionType.RALLY):
            lists[mtype] = t.download(
                mtype, progress=lambda d, n, s=mtype.label: bars(f"{s} download", d, n)).items
    mission = Mission(lists[MissionType.MISSION], fence=lists[MissionType.FENCE],
                      rally=lists[MissionType.RALLY], name=output.stem)
    plan = Plan(kind=PlanKind.SURVEY, sorties=[mission], name=output.stem,
                settings={"source": f"downloaded from {url}"})
    write_plan(plan, output)
    n = max(len(mission.items) - 1, 0)
    click.echo(f"Wrote {output}: {n} mission items (plus home), {len(mission.fence)} fence "
               f"items, {len(mission.rally)} rally points")


@click.command()
@connect_option
@click.option("--takeoff-alt", type=float, default=30.0, show_default=True,
              help="Metres above home to climb to before the mission starts.")
@click.option("--tlog", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Record all telemetry here (default: flight-<time>.tlog).")
@click.option("--track", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the flown track as GeoJSON here (default: next to the .tlog).")
@key_option
@timeout_option
@click.option("--max-time", type=float, default=3600.0, show_default=True,
              help="Give up following the flight after this many seconds (the aircraft "
                   "carries on).")
def fly(url, takeoff_alt, tlog, track, signing_key, timeout, max_time):
    """Arm, take off, fly the mission on the aircraft and follow it. Ctrl-C sends it home (RTL)."""
    from uav.errors import CommandError
    from uav.items import MissionType
    from uav.link.mission_transfer import MissionTransfer
    from uav.link.telemetry import Recorder

    tlog = tlog or Path(time.strftime("flight-%Y%m%d-%H%M%S.tlog"))
    track = track or tlog.with_suffix(".geojson")
    with _connect(url, signing_key, timeout) as link:
        # No log file is created for a flight that is refused before it starts.
        count = MissionTransfer(link).count(MissionType.MISSION)
        if count <= 1:
            raise CommandError("the aircraft holds no mission (only home): run `uav upload` "
                               "first")
        with Recorder(link, tlog=tlog) as rec:
            _fly(link, rec, count - 1, takeoff_alt, tlog, track, max_time)


def _catch_ctrl_c():
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even where it came in ignored, as a shell
    passes it to a background job or a script runner; returns the previous handler (None off
    the main thread).  A pilot must always be able to send the aircraft home."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.default_int_handler)


def _fly(link, rec, last: int, takeoff_alt: float, tlog: Path, track: Path,
         max_time: float) -> None:
    from uav.link import control

    click.echo(f"Mission on the aircraft: {last} items. Taking off to {takeoff_alt:g} m...")
    previous = _catch_ctrl_c()
    try:
        control.takeoff(link, takeoff_alt)
        control.start_mission(link)
        click.echo("Mission started (AUTO). Ctrl-C returns the aircraft home.")
        _follow(link, rec, last, max_time)
    except KeyboardInterrupt:
        click.secho("\nCtrl-C: returning to launch (RTL)", fg="yellow", err=True)
        control.rtl(link)
        click.echo("RTL engaged; the aircraft is flying home.")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        rec.write_track(track)
        click.echo(f"Telemetry: {tlog} ({rec.tlog.count if rec.tlog else 0} messages); "
                   f"track: {track} ({len(rec.track)} points, {len(rec.camera)} photos)")


def _follow(link, rec, last: int, max_time: float) -> None:
    from uav.link import control

    deadline = time.monotonic() + max_time
    shown = -1
    while time.monotonic() < deadline:
        msg = link.poll(("MISSION_ITEM_REACHED", "HEARTBEAT", "STATUSTEXT"), 1.0)
        if msg is None:
            continue
        mtype = msg.get_type()
        if mtype == "STATUSTEXT":
            text = link.statustexts[-1][2]
            if not text.startswith("Reached command #"):  # shown below as "reached item"
                click.echo(f"  vehicle: {text}")
        elif mtype == "MISSION_ITEM_REACHED" and msg.seq != shown:
            shown = msg.seq
            click.echo(f"  reached item {msg.seq}/{last}")
        elif mtype == "HEARTBEAT" and shown >= 1 and not control.is_armed(msg):
            click.secho(f"Landed and disarmed; mission progress: {rec.progress.describe()}",
                        fg="green")
            return
    click.echo(f"Stopped following after {max_time:.0f} s; the aircraft carries on.")


@click.command()
@connect_option
@key_option
@timeout_option
def status(url, signing_key, timeout):
    """Who is on the link and what state it is in: mode, arming, position, battery, lists."""
    from uav.items import MissionType
    from uav.link import control
    from uav.link.mission_transfer import MissionTransfer

    with _connect(url, signing_key, timeout) as link:
        hb = link.wait_heartbeat(3.0)
        armed = "ARMED" if control.is_armed(hb) else "disarmed"
        click.echo(f"mode: {control.mode_name(hb.custom_mode)}, {armed}")
        pos = link.poll("GLOBAL_POSITION_INT", 2.0)
        if pos is not None:
            click.echo(f"position: {pos.lat / 1e7:.7f}, {pos.lon / 1e7:.7f}, "
                       f"{pos.relative_alt / 1000:.1f} m above home")
        sys_status = link.last.get("SYS_STATUS") or link.poll("SYS_STATUS", 1.5)
        if sys_status is not None and sys_status.voltage_battery not in (0, 65535):
            pct = (f", {sys_status.battery_remaining}%" if sys_status.battery_remaining >= 0
                   else "")
            click.echo(f"battery: {sys_status.voltage_battery / 1000:.2f} V{pct}")
        gps = link.last.get("GPS_RAW_INT") or link.poll("GPS_RAW_INT", 1.5)
        if gps is not None:
            click.echo(f"gps: fix type {gps.fix_type}, {gps.satellites_visible} satellites")
        t = MissionTransfer(link)
        counts = {m.label: t.count(m) for m in MissionType}
        click.echo(f"on board: mission {max(counts['mission'] - 1, 0)} items (plus home), "
                   f"fence {counts['fence']} items, rally {counts['rally']} points")
