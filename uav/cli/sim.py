"""``uav sim``: serve a simulated copter for QGroundControl, MAVProxy and ``uav`` to fly."""

from __future__ import annotations

import time

import click

from ..errors import InvalidInputError, SimulatorError


def _parse_home(text: str | None):
    """``LAT,LON[,ALT_AMSL[,HEADING]]`` -> (lat, lon, alt, heading), missing ones 0."""
    if text is None:
        return None
    from ..geo import parse_latlon

    try:
        values = parse_latlon(text)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--home") from None
    return tuple(values) + (0.0,) * (4 - len(values))


@click.group(name="sim")
def sim():
    """Simulated vehicles for rehearsal: the real ArduPilot SITL or the built-in copter."""


@sim.command("start")
@click.option("--backend", type=click.Choice(["auto", "builtin", "ardupilot"]), default="auto",
              show_default=True, help="ardupilot needs an arducopter SITL binary.")
@click.option("--home", "home_text", metavar="LAT,LON,ALT,HDG",
              help="Home position (default: a field near Vladivostok).")
@click.option("--speedup", type=float, default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--port", type=int, default=5760, show_default=True,
              help="TCP port for the built-in copter (0: any free port).")
@click.option("--instance", type=click.IntRange(0, 99), default=0, show_default=True,
              help="ArduPilot SITL instance: its ports are 5760 + 10 x N (run several at once).")
@click.option("--udp", "udp_out", multiple=True, metavar="HOST:PORT",
              help="Also send MAVLink to this UDP address (e.g. QGroundControl's "
                   "127.0.0.1:14550); repeatable. Built-in only.")
@click.option("--sitl-bin", type=click.Path(dir_okay=False), default=None,
              help="Path to the arducopter SITL binary.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Start with this parameter value; repeatable.")
@click.option("--duration", type=float, default=None, hidden=True,
              help="Stop after this many seconds (for tests).")
def start(backend, home_text, speedup, port, instance, udp_out, sitl_bin, params, duration):
    """Serve a simulated copter until Ctrl-C; print where to connect."""
    from simulators.backend import DEFAULT_HOME, start_vehicle

    if speedup <= 0:
        raise click.BadParameter(f"{speedup}: the speed-up must be positive", param_hint="--speedup")
    home = _parse_home(home_text) or DEFAULT_HOME
    values = {}
    for p in params:
        name, sep, val = p.partition("=")
        try:
            values[name.strip().upper()] = float(val)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{p!r}: expected NAME=NUMBER, e.g. WPNAV_SPEED=800",
                                     param_hint="--param")
    kw = {}
    if udp_out:
        if backend == "ardupilot":
            raise SimulatorError("--udp works with the built-in copter only; point MAVProxy "
                                 "at the SITL TCP port to fan out to UDP")
        kw["udp_out"] = list(udp_out)
        backend = "builtin"  # auto would pick SITL when installed, which cannot fan out to UDP
    previous = _stop_on_sigterm()
    click.echo("starting the simulated copter; waiting until it can arm (GPS fix, EKF, "
               "pre-arm checks)...", err=True)
    try:
        vehicle = start_vehicle(backend, home=home, speedup=speedup, port=port, instance=instance,
                                params=values, sitl_bin=sitl_bin, **kw)
    except OSError as exc:
        _restore_sigterm(previous)
        raise SimulatorError(f"could not start the simulator: {exc}") from exc
    except BaseException:
        _restore_sigterm(previous)
        raise
    try:
        kind = getattr(vehicle, "backend", backend)
        click.echo(f"{kind} copter at {home[0]:.6f},{home[1]:.6f} (alt {home[2]:g} m), "
                   f"speed-up {speedup:g}x")
        click.echo(f"connect: {vehicle.connection_string}")
        click.echo(f"telemetry-radio port (refuses unsigned once signed): "
                   f"{vehicle.telemetry_connection_string}")
        for target in udp_out:
            click.echo(f"sending to udp:{target}")
        click.echo("Ctrl-C to stop.")
        t0 = time.monotonic()
        while duration is None or time.monotonic() - t0 < duration:
            time.sleep(0.2)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        vehicle.stop()
        _restore_sigterm(previous)


def _stop_on_sigterm():
    """Treat SIGTERM (kill, systemd, a terminal closing) like Ctrl-C, so the vehicle is stopped
    and its ports closed; returns the previous handler (None off the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore_sigterm(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


@click.command("rehearse")
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", type=click.Choice(["auto", "builtin", "ardupilot"]), default="auto",
              show_default=True,
              help="Real ArduPilot SITL when found (auto), or the built-in copter.")
@click.option("--speedup", type=float, default=30.0, show_default=True,
              help="Simulated seconds per wall second.")
@click.option("--frames-out", type=click.Path(file_okay=False), default=None,
              help="Render the simulated camera's frames (and truth.json) into this folder.")
@click.option("--track", "track_out", type=click.Path(dir_okay=False), default=None,
              help="Write the flown track as GeoJSON (default: next to the report).")
@click.option("--sitl-bin", type=click.Path(dir_okay=False), default=None,
              help="ArduPilot SITL binary (else ARDUPILOT_SITL or arducopter on PATH).")
@click.option("-o", "--output", "report_out", type=click.Path(dir_okay=False), default=None,
              help="Write the rehearsal report as JSON here.")
@click.option("--connect", "url", default=None, metavar="URL",
              help="Fly on a simulator already running (what `uav sim start` printed, e.g. "
                   "tcp:127.0.0.1:5760) instead of starting one.")
@click.option("--sortie", "only", type=int, multiple=True, metavar="N",
              help="Fly only sortie N (repeat for more; numbered as `uav plan show` numbers them): "
                   "the one you fly next. Default: every sortie.")
def rehearse(plan_path, backend, speedup, frames_out, track_out, sitl_bin, report_out, url, only):
    """Fly PLAN (.plan, .waypoints or a DJI Pilot 2 route .kmz) on a simulator: upload
    (verified), arm, fly every sortie, and report.

    The report compares each sortie with the plan: flight time, battery used, photos taken,
    cross-track error, fence breaches and items reached.  Exit status 1 if any sortie had a
    problem.
    """
    from pathlib import Path

    from missions import read_any_plan
    from simulators.rehearsal import rehearse as run

    plan = read_any_plan(plan_path)   # .plan, .waypoints or a DJI route .kmz
    if track_out is None:
        base = Path(report_out) if report_out else Path(plan_path)
        track_out = base.with_name(base.stem + "-track.geojson")

    def progress(text):
        click.echo(f"\r{text:<100}", nl=False)

    if url is None:
        click.echo(f"Starting a simulator of its own ({backend}, {speedup:g}x); to fly on one "
                   "you started and watch, give its address with --connect", err=True)
    report = run(plan, backend=backend, speedup=speedup, frames_out=frames_out,
                 track_out=track_out, sitl_bin=sitl_bin, progress=progress,
                 plan_name=Path(plan_path).name, connect_url=url, only=only or None)
    click.echo("")
    click.echo(report.describe())
    click.echo(f"Flown track: {report.track_path}")
    if report.frames_dir:
        click.echo(f"Frames: {report.frames_dir} (truth: {report.truth_path})")
    if report_out:
        report.write(report_out)
        click.echo(f"Report: {report_out}")
    if not report.ok:
        raise SystemExit(1)
