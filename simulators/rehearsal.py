"""Rehearse a plan on a simulated vehicle: upload (verified), arm, fly every sortie, report.

The pilot's question is "will this flight work?": does each sortie fit the battery, stay inside
the fence, trigger the camera where planned, and reach every item.  This module answers it by
flying the plan on the built-in copter or a real ArduPilot SITL and comparing what was flown
with what was planned.  With a scene, the simulated camera renders a frame at every camera
trigger, so processing can be scored end to end.

Time here is the vehicle's (``time_boot_ms``), so figures do not depend on the speed-up.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import shapely

from uav.errors import SimulatorError, UavError
from uav.geo import LocalFrame
from uav.items import Cmd, Mission
from uav.link import connect, control
from uav.link.upload import upload_verified

from .rehearsal_report import RehearsalReport, SortieReport

# Items the vehicle reports reaching (MISSION_ITEM_REACHED); DO_ commands are not "reached".
NAV_COMMANDS = frozenset({Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_TURNS,
                          Cmd.NAV_LOITER_UNLIM, Cmd.NAV_TAKEOFF, Cmd.NAV_RETURN_TO_LAUNCH,
                          Cmd.NAV_LAND})

# Progress callback: progress(text) with a one-line status, called a few times a second.
Progress = Callable[[str], None]



def is_fence_breach_text(text: str) -> bool:
    """A breach as ArduCopter words it ("Circle fence breached"), not its end: "Fence breach
    cleared" follows once the copter is back inside (SITL 4.7 and the built-in copter)."""
    low = text.lower()
    return "fence" in low and "breach" in low and "cleared" not in low

def planned_photos(mission: Mission) -> int:
    """Photos a mission should take, counted as ArduPilot's camera library takes them.

    With DO_SET_CAM_TRIGG_DIST on, a photo is taken each time the distance flown since the last
    one reaches the trigger distance, plus one at once when param3 ("trigger now") is 1;
    DO_DIGICAM_CONTROL takes one photo (hover-and-capture).
    """
    from uav.geo import distance_m

    count = 0
    trig = 0.0
    leg = 0.0
    prev = (mission.items[0].lat, mission.items[0].lon) if mission.items else None
    for item in mission.items[1:]:
        if item.command == Cmd.DO_SET_CAM_TRIGG_DIST:
            if trig > 0:
                count += int(leg // trig)
            trig, leg = item.param1, 0.0
            if trig > 0 and item.param3 >= 1:
                count += 1
        elif item.command == Cmd.DO_DIGICAM_CONTROL:
            count += 1
        elif item.is_position and item.command != Cmd.NAV_TAKEOFF and (item.lat or item.lon):
            if prev is not None and trig > 0:
                leg += float(distance_m(prev[1], prev[0], item.lon, item.lat))
            prev = (item.lat, item.lon)
    if trig > 0:
        count += int(leg // trig)
    return count


def _planned_path(mission: Mission, frame: LocalFrame):
    pts = [(mission.items[0].lon, mission.items[0].lat)]
    for item in mission.items[1:]:
        if item.is_position and item.command not in (Cmd.NAV_TAKEOFF,) and (item.lat or item.lon):
            pts.append((item.lon, item.lat))
    pts.append(pts[0])
    xs, ys = frame.to_metric([p[0] for p in pts], [p[1] for p in pts])
    return shapely.LineString(list(zip(xs, ys)))


def rehearse(plan, *, backend: str = "auto", speedup: float = 20.0, frames_out=None,
             scene=None, camera_scale: float = 0.25, track_out=None, tlog_out=None,
             sitl_bin=None, progress: Progress | None = None, sortie_timeout_s: float = 4 * 3600,
             connect_timeout: float = 30.0, plan_name: str = "",
             instance: int | None = None, connect_url: str | None = None,
             only=None) -> RehearsalReport:
    """Fly every sortie of ``plan`` on a simulated vehicle and report.

    Parameters
    ----------
    plan : missions.model.Plan
    backend : {"auto", "builtin", "ardupilot"}
        "auto" flies real ArduPilot SITL when a binary is found, the built-in copter otherwise.
    speedup : float
        Simulation speed-up (vehicle time / wall time).
    frames_out : path, optional
        Render a frame at each camera trigger into this folder (with ``truth.json``).
    scene : simulators.scene.Scene, optional
        Ground truth to photograph; one is generated over the plan's area when omitted.
    track_out, tlog_out : path, optional
        Where to write the flown track (GeoJSON) and the telemetry log.
    sortie_timeout_s : float
        Vehicle-time limit for one sortie; a sortie with a planned time is also sent home at
        :data:`OVERRUN_FACTOR` times it plus :data:`OVERRUN_MARGIN_S`, whichever comes first.
    instance : int, optional
        SITL instance (ports 5760 + 10 * instance); None takes the first free one.
    connect_url : str, optional
        Fly on a simulator that is already running (the one ``uav sim start`` printed, and a
        ground station may be watching) instead of starting one; its battery is not swapped
        between sorties and its parameters are left as they are.
    only : sequence of int, optional
        Fly only these sorties (numbered from 1, as the plan and the report number them): the
        one a pilot flies next, say.
    """
    if not plan.sorties:
        raise SimulatorError("the plan has no sorties to fly")
    numbers = _chosen(plan, only)
    flown = plan if len(numbers) == len(plan.sorties) else replace(
        plan, sorties=[plan.sorties[n - 1] for n in numbers])
    t_wall = time.monotonic()
    report = RehearsalReport(plan=plan_name or plan.name or plan.kind.value, backend=backend,
                             speedup=float(speedup), sorties_planned=len(plan.sorties))
    if connect_url is not None:
        flights = _on_running_simulator(flown, connect_url, connect_timeout, report)
    else:
        flights = _on_fresh_vehicles(flown, backend, speedup, sitl_bin, instance,
                                     connect_timeout, report)
    collector = None
    if frames_out is not None:
        collector = _make_collector(plan, frames_out, scene, camera_scale, plan.sorties[0].home)
        report.frames_dir = str(frames_out)
    track_features = []
    try:
        for index, sortie, (link, scale) in zip(numbers, flown.sorties, flights):
            tlog = _tlog_path(tlog_out, plan, index, report)
            sr, track = _fly_sortie(link, plan, sortie, index, collector, progress,
                                    sortie_timeout_s, tlog, scale)
            report.sorties.append(sr)
            _add_track(track_features, index, sr, track)
    finally:
        flights.close()   # the last vehicle or connection is stopped here
        if collector is not None:
            report.truth_path = str(collector.finish())
    return _finish(report, track_out, track_features, t_wall)


def _chosen(plan, only) -> list[int]:
    """The sorties to fly, numbered from 1; a number the plan does not have is refused."""
    n = len(plan.sorties)
    if not only:
        return list(range(1, n + 1))
    bad = sorted({k for k in only if not 1 <= k <= n})
    if bad:
        raise SimulatorError(f"the plan has {n} sortie{'s' if n > 1 else ''} (1-{n}): there is no "
                             f"sortie {', '.join(map(str, bad))}")
    return sorted(set(only))


def _on_fresh_vehicles(plan, backend, speedup, sitl_bin, instance, connect_timeout,
                       report: RehearsalReport):
    """A link per sortie, each to a vehicle of its own: a fresh battery, as after a swap in the
    field; yields ``(link, SITL charge scale)``."""
    from .backend import find_sitl, start_vehicle

    if backend == "auto":  # resolved here: the vehicle's battery is set up per backend
        backend = "ardupilot" if find_sitl(sitl_bin) is not None else "builtin"
    report.backend = backend
    home = plan.sorties[0].home
    for sortie in plan.sorties:
        scale = sitl_charge_scale(plan, sortie) if backend == "ardupilot" else 1.0
        with start_vehicle(backend, home=(home.lat, home.lon, home.alt_amsl, 0.0),
                           speedup=speedup, sitl_bin=sitl_bin, instance=instance,
                           params=vehicle_params(plan, scale)) as vehicle:
            report.backend = getattr(vehicle, "backend", backend)
            _use_energy_model(vehicle, plan)
            with connect(vehicle.connection_string, timeout=connect_timeout,
                         stream_rate_hz=4.0) as link:
                yield link, scale


# A running simulator whose home is further than this from the plan's would fly long transits.
HOME_MISMATCH_M = 1000.0


def _on_running_simulator(plan, url: str, connect_timeout, report: RehearsalReport):
    """The simulator at ``url`` for every sortie, one after the other, on its own battery and
    parameters; refused when it stands far from the plan's home."""
    from uav.geo import distance_m
    from uav.link import params

    report.backend = f"the simulator at {url}"
    home = plan.sorties[0].home
    with connect(url, timeout=connect_timeout, stream_rate_hz=4.0) as link:
        where = control.wait_home(link, connect_timeout)
        off = float(distance_m(home.lon, home.lat, where.longitude / 1e7, where.latitude / 1e7))
        if off > HOME_MISMATCH_M:
            raise SimulatorError(
                f"the simulator at {url} is {off / 1000:.1f} km from the plan's home: "
                f"start it there with `uav sim start --home {home.lat:.6f},{home.lon:.6f},"
                f"{home.alt_amsl:.0f},0` (the line `uav plan show` prints)")
        try:
            report.speedup = float(params.read(link, "SIM_SPEEDUP", timeout=2.0))
        except UavError:
            report.speedup = 1.0
        for _sortie in plan.sorties:
            yield link, 1.0


def _tlog_path(tlog_out, plan, index: int, report: RehearsalReport) -> Path | None:
    """Where sortie ``index`` records its telemetry (one file per sortie when there are several)."""
    if tlog_out is None:
        return None
    tlog = Path(tlog_out)
    if len(plan.sorties) > 1:
        tlog = tlog.with_name(f"{tlog.stem}-sortie{index}{tlog.suffix}")
    report.tlog_path = str(tlog)
    return tlog


def _add_track(features: list, index: int, sr: SortieReport, track) -> None:
    if track:
        features.append({"type": "Feature",
                         "geometry": {"type": "LineString", "coordinates": track},
                         "properties": {"kind": "track", "sortie": index,
                                        "flown_time_s": round(sr.flown_time_s, 1)}})


def _finish(report: RehearsalReport, track_out, features: list, t_wall: float) -> RehearsalReport:
    if track_out is not None:
        Path(track_out).write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        report.track_path = str(track_out)
    report.wall_time_s = time.monotonic() - t_wall
    return report


# The aircraft ArduPilot's SITL flies (its "+" frame): its energy model was measured there.
SITL_AIRCRAFT = "arducopter-quad"


def sitl_charge_scale(plan, sortie: Mission) -> float:
    """SITL's charge for ``sortie`` over the plan's aircraft's charge, by the energy models.

    SITL always flies its own quad, which draws what its physics says; to rehearse another
    aircraft its pack is scaled by this ratio (so each sortie uses the same share of it as of
    the real aircraft's) and the charge it reports is divided by it.  1 for SITL's own quad.
    """
    from missions.estimate import estimate_mission
    from uav.profiles import AIRCRAFT

    aircraft = plan.aircraft
    if aircraft is None or aircraft.energy == AIRCRAFT[SITL_AIRCRAFT].energy:
        return 1.0
    own = estimate_mission(sortie, aircraft).charge_mah
    sitl = estimate_mission(sortie, replace(aircraft, **_sitl_energy_fields())).charge_mah
    return sitl / own if own > 0 else 1.0


def _sitl_energy_fields() -> dict:
    from uav.profiles import AIRCRAFT

    q = AIRCRAFT[SITL_AIRCRAFT]
    return {f: getattr(q, f) for f in ("endurance_s", "battery_capacity_mah", "battery_voltage_v",
                                       "hover_endurance_s", "power_curve", "climb_power_per_ms",
                                       "descent_power_per_ms")}


def _use_energy_model(vehicle, plan) -> None:
    """The built-in copter drains by the plan's aircraft's energy model (the planner's)."""
    battery = getattr(getattr(getattr(vehicle, "server", None), "vehicle", None), "battery", None)
    if battery is not None and plan.aircraft is not None:
        battery.model = plan.aircraft.energy


def vehicle_params(plan, charge_scale: float = 1.0) -> dict:
    """Parameters that make the simulated aircraft the one the plan was made for.

    The battery matters most: a rehearsal on the simulator's default pack would say nothing
    about whether each sortie fits the aircraft's battery.  ``charge_scale`` (SITL flying
    another aircraft, see :func:`sitl_charge_scale`) scales the pack.
    """
    from .backend import SIM_DEFAULT_PARAMS

    params = dict(SIM_DEFAULT_PARAMS)
    aircraft = plan.aircraft
    if aircraft is not None:
        capacity = aircraft.battery_capacity_mah * charge_scale
        params["BATT_CAPACITY"] = int(round(capacity))
        params["SIM_BATT_CAP_AH"] = capacity / 1000.0  # SITL's pack
        params["WPNAV_SPEED"] = int(round(aircraft.cruise_speed_ms * 100))
        params["WPNAV_SPEED_UP"] = int(round(aircraft.climb_rate_ms * 100))
        params["WPNAV_SPEED_DN"] = int(round(aircraft.descent_rate_ms * 100))
    return params


def _make_collector(plan, frames_out, scene, camera_scale, home):
    from uav.profiles import get_camera

    from .frames import FrameCollector
    from .scene import Scene

    camera = plan.camera or get_camera("mavic3e-wide")
    if scene is None:
        area = shapely.geometry.shape(plan.sector) if plan.sector else None
        if area is None:
            pts = [(i.lon, i.lat) for s in plan.sorties for i in s.items if i.is_position and (i.lat or i.lon)]
            area = shapely.MultiPoint(pts).envelope
        scene = Scene.generate(area.buffer(0.002).bounds, seed=1, ground_alt_amsl=home.alt_amsl)
    return FrameCollector(frames_out, scene, camera, camera_scale)


# A sortie still flying at this many times its planned time, and this much more, is stuck
# (circling, holding, a mission that cannot end): it is sent home and reported rather than
# watched until the vehicle-time limit (4 h: at speed-up 1, a pilot's afternoon).
OVERRUN_FACTOR = 3.0
OVERRUN_MARGIN_S = 600.0


def _fly_sortie(link, plan, sortie: Mission, index: int, collector, progress, timeout_s, tlog,
                charge_scale: float = 1.0):
    from uav.link.telemetry import TlogWriter

    frame = LocalFrame.around(sortie.items[0].lon, sortie.items[0].lat)
    writer = TlogWriter(link, tlog) if tlog is not None else None
    planned_time = (plan.stats.sortie_times_s[index - 1]
                    if len(plan.stats.sortie_times_s) >= index else
                    (plan.stats.flight_time_s if len(plan.sorties) == 1 else None))
    sr = SortieReport(index=index, planned_time_s=planned_time, flown_time_s=0.0,
                      planned_photos=planned_photos(sortie), photos_taken=0,
                      battery_capacity_mah=None, battery_used_mah=None,
                      battery_remaining_pct=None, max_cross_track_m=None,
                      items_total=sum(1 for it in sortie.items[1:] if it.command in NAV_COMMANDS))
    track: list[list[float]] = []
    airborne: list[bool] = []  # per track point: high enough to compare with the plan
    stations = _lookout_stations(sortie, plan)
    watched = {seq: 0.0 for seq in stations}
    current_seq = -1
    last_fix = None  # (vehicle time, lat, lon) of the previous position
    try:
        say = progress or (lambda text: None)
        say(f"sortie {index}: uploading {len(sortie.items)} items, {len(sortie.fence)} fence, "
            f"{len(sortie.rally)} rally")
        up = upload_verified(link, sortie)
        sr.upload = up.describe()
        try:
            from uav.link import params

            sr.battery_capacity_mah = float(params.read(link, "BATT_CAPACITY", timeout=2.0)) / charge_scale
        except UavError:
            pass
        control.set_mode(link, "GUIDED")
        control.arm(link)
        control.start_mission(link)
        t_start = None
        t_now = 0.0
        armed_seen = True
        last_say = 0.0
        photo_seen: set[int] = set()
        limit_s = timeout_s
        if planned_time:
            limit_s = min(timeout_s, OVERRUN_FACTOR * planned_time + OVERRUN_MARGIN_S)
        since = time.monotonic()
        while True:
            msg = link.poll(None, 0.5)
            if msg is None:
                if time.monotonic() - since > 60:
                    raise SimulatorError("the simulated vehicle stopped talking for 60 s")
                continue
            since = time.monotonic()
            mtype = msg.get_type()
            if mtype == "GLOBAL_POSITION_INT":
                t_now = msg.time_boot_ms / 1000.0
                if t_start is None:
                    t_start = t_now
                lat, lon = msg.lat / 1e7, msg.lon / 1e7
                track.append([lon, lat, round(msg.alt / 1000.0, 2)])
                airborne.append(msg.relative_alt > 2000)
                if current_seq in stations and last_fix is not None:
                    watched[current_seq] += _on_station_s(stations[current_seq], last_fix,
                                                          (t_now, lat, lon))
                last_fix = (t_now, lat, lon)
            elif mtype == "MISSION_CURRENT":
                current_seq = int(msg.seq)
            elif mtype == "CAMERA_FEEDBACK":
                if msg.img_idx in photo_seen:
                    continue
                photo_seen.add(msg.img_idx)
                sr.photos_taken += 1
                if collector is not None:
                    collector.on_trigger(msg.lat / 1e7, msg.lng / 1e7, float(msg.alt_msl),
                                         float(msg.alt_rel), float(msg.yaw), float(msg.pitch),
                                         float(msg.roll), msg.time_usec / 1e6,
                                         int(msg.img_idx) + 10000 * (index - 1))
            elif mtype == "MISSION_ITEM_REACHED":
                if not sr.items_reached or sr.items_reached[-1] != msg.seq:
                    sr.items_reached.append(int(msg.seq))
            elif mtype == "BATTERY_STATUS":
                if msg.current_consumed >= 0:
                    sr.battery_used_mah = float(msg.current_consumed) / charge_scale
                if msg.battery_remaining >= 0:
                    sr.battery_remaining_pct = float(msg.battery_remaining)
            elif mtype == "STATUSTEXT":
                text = msg.text if isinstance(msg.text, str) else msg.text.decode(errors="replace")
                low = text.lower()
                if is_fence_breach_text(text):
                    sr.fence_breaches.append(text)
                if "battery" in low and "failsafe" in low:
                    sr.problems.append(f"battery failsafe: {text}")
            elif mtype == "HEARTBEAT" and link._from_vehicle(msg):
                armed = control.is_armed(msg)
                if armed_seen and not armed:
                    sr.landed = True
                    break
                armed_seen = armed
            if t_start is not None and t_now - t_start > limit_s:
                sr.problems.append(f"sortie still flying after {limit_s / 60:.0f} min of flight"
                                   + (f", {OVERRUN_FACTOR:.0f}x its planned {planned_time / 60:.1f} min "
                                      f"and {OVERRUN_MARGIN_S / 60:.0f} more: sent home (RTL)"
                                      if limit_s < timeout_s else ""))
                control.rtl(link)
                break
            wall = time.monotonic()
            if wall - last_say > 0.5 and t_start is not None:
                last_say = wall
                cur = sr.items_reached[-1] if sr.items_reached else 0
                say(f"sortie {index}/{len(plan.sorties)}: {(t_now - t_start) / 60:5.1f} min flown, "
                    f"item {cur}/{len(sortie.items) - 1}, photos {sr.photos_taken}/{sr.planned_photos}")
        sr.flown_time_s = (t_now - t_start) if t_start is not None else 0.0
    except UavError as exc:
        sr.problems.append(str(exc))
    finally:
        if writer is not None:
            writer.close()
    if any(airborne):
        # projected once here, not per message: the loop must keep up with the telemetry
        lonlat = np.array(track)[np.array(airborne), :2]
        x, y = frame.to_metric(lonlat[:, 0], lonlat[:, 1])
        d = shapely.distance(_planned_path(sortie, frame), shapely.points(x, y))
        sr.max_cross_track_m = float(d.max())
    nav = [i for i, it in enumerate(sortie.items) if i > 0 and it.command in NAV_COMMANDS]
    # ArduPilot reports the final RTL/LAND as reached only as it lands, if at all: landing and
    # disarming after the last item before it counts as completing the mission.
    last_nav = nav[-1] if nav else 0
    if sortie.items[last_nav].command in (Cmd.NAV_RETURN_TO_LAUNCH, Cmd.NAV_LAND) and sr.landed:
        last_nav = nav[-2] if len(nav) > 1 else 0
    sr.completed = bool(sr.items_reached) and max(sr.items_reached) >= last_nav
    if not sr.completed and not sr.problems:
        missing = [s for s in nav if s not in set(sr.items_reached)]
        sr.problems.append(f"items not reached: {missing[:10]}{'…' if len(missing) > 10 else ''}")
    sr.lookouts = [dict(item=seq, lat=st[0], lon=st[1], planned_s=round(st[3], 1),
                        watched_s=round(watched[seq], 1)) for seq, st in stations.items()]
    _battery_verdict(sr, plan, sortie)
    return sr, track


# How far from a lookout's orbit (or hover point) the aircraft still counts as watching it.
ON_STATION_MARGIN_M = 15.0


def _lookout_stations(sortie: Mission, plan) -> dict[int, tuple[float, float, float, float]]:
    """Mission seq -> (lat, lon, radius m, planned seconds) of each orbit or hover."""
    from missions.estimate import orbit_speed_ms

    aircraft = plan.aircraft
    speed = aircraft.cruise_speed_ms if aircraft is not None else 5.0
    accel = aircraft.acceleration_ms2 if aircraft is not None else 2.5
    out = {}
    for seq, it in enumerate(sortie.items):
        if seq == 0 or not (it.lat or it.lon):
            continue
        if it.command == Cmd.NAV_LOITER_TIME:
            out[seq] = (it.lat, it.lon, abs(it.param3), max(it.param1, 0.0))
        elif it.command == Cmd.NAV_LOITER_TURNS:
            r = abs(it.param3)
            circ = 2 * math.pi * r * max(it.param1, 0.0)
            out[seq] = (it.lat, it.lon, r, circ / orbit_speed_ms(r, speed, accel) if r else 0.0)
    return out


def _on_station_s(station, before, now) -> float:
    """Seconds between two fixes spent on ``station``: both fixes within its radius plus the
    margin of its centre (a pass on the way in does not count)."""
    from uav.geo import distance_m

    lat, lon, radius, _planned = station
    reach = radius + ON_STATION_MARGIN_M
    near = all(float(distance_m(lon, lat, f[2], f[1])) <= reach for f in (before, now))
    return max(0.0, now[0] - before[0]) if near else 0.0


# How far the flown charge may exceed the energy model's before the rehearsal calls it a
# problem: the model matches the built-in copter and ArduPilot's SITL within this (see
# tests/simulators/test_energy_drain.py).
MODEL_TOLERANCE = 0.10


def _battery_verdict(sr: SortieReport, plan, sortie: Mission) -> None:
    """Judge the charge used with the planner's own rule: the reserve is not to be used.

    The planner accepts a sortie whose estimated charge fits the usable part of the pack; the
    rehearsal fails one that ate into the reserve by more than the model's tolerance, so the
    two commands give the same answer.
    """
    aircraft = plan.aircraft
    if aircraft is not None:
        from missions.estimate import estimate_mission

        sr.battery_predicted_mah = estimate_mission(sortie, aircraft).charge_mah
    if not sr.battery_capacity_mah or sr.battery_used_mah is None:
        return
    reserve = aircraft.reserve_fraction if aircraft is not None else 0.1
    usable = sr.battery_capacity_mah * (1.0 - reserve)
    limit = min(usable * (1.0 + MODEL_TOLERANCE), sr.battery_capacity_mah)
    if sr.battery_used_mah > limit:
        planned = (f"; the plan expected {sr.battery_predicted_mah:.0f} mAh"
                   if sr.battery_predicted_mah else "")
        sr.problems.append(
            f"used {sr.battery_used_mah:.0f} of {sr.battery_capacity_mah:.0f} mAh, into the "
            f"{reserve:.0%} reserve (usable {usable:.0f} mAh){planned}: shorten the sorties or "
            "fly a bigger battery")
