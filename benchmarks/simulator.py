"""Speed of the built-in copter: does a 20-minute survey fly at >= 50x real time on one core?

A GCS (raw pymavlink over TCP, in this process) uploads a lawnmower survey of ~20 simulated
minutes (takeoff to 60 m, 1 km legs 80 m apart at WPNAV_SPEED 10 m/s, a photo every 25 m,
RTL), arms, starts it and reads telemetry until the copter has landed and disarmed.  The flight
is timed three ways in the same run, the whole process pinned to one CPU core:

* ``capacity``: requested speed-up far above what the vehicle loop can do and no rendering:
  the vehicle thread's ceiling on this core (its clock slows itself when it cannot keep up);
* ``no_render``: at the requested speed-up (default 100x), no frames;
* ``render``: the same, with :class:`simulators.frames.FrameCollector` rendering a JPEG at
  every CAMERA_FEEDBACK at scale 0.25 (1320x989 for the mavic3e-wide camera);
* ``render_capacity``: rendering, with the requested speed-up far above the ceiling.

Baseline: the same vehicle at speed-up 1 for a few seconds (the clock's own accuracy).  The
figure that matters is ``render_x`` (simulated seconds of flight / wall seconds from mission
start until the last frame is written); ``*_cpu_x`` divides by process CPU time instead, which
is steadier on a busy machine.

    .venv/bin/python -m benchmarks.simulator [--speedup 100] [--scale 0.25]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.backend import start_vehicle
from uav.geo import TangentPlane

HOME = (43.1056, 131.8735, 40.0, 0.0)
ALT = 60.0
LEG_M = 1000.0
SPACING_M = 80.0
LEGS = 10
TRIGGER_M = 25.0


def survey_items(home=HOME) -> list[tuple]:
    """MISSION_ITEM_INT tuples (frame, command, p1..p4, lat, lon, alt) of the survey."""
    f = TangentPlane(home[1], home[0])
    rel = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    items = [(M.MAV_FRAME_GLOBAL_INT, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, home[0], home[1],
              home[2]),
             (rel, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0.0, 0.0, ALT)]
    for k in range(LEGS):
        e = 100.0 + k * SPACING_M
        n0, n1 = (100.0, 100.0 + LEG_M) if k % 2 == 0 else (100.0 + LEG_M, 100.0)
        items.append((rel, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, *f.latlon_at(n0, e), ALT))
        items.append((rel, M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, TRIGGER_M, 0, 1, 0, 0, 0, 0))
        items.append((rel, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, *f.latlon_at(n1, e), ALT))
        items.append((rel, M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0, 0, 0, 0, 0))
    items.append((rel, M.MAV_CMD_NAV_RETURN_TO_LAUNCH, 0, 0, 0, 0, 0, 0, 0))
    return items


def planned_photos() -> int:
    return LEGS * (int(LEG_M // TRIGGER_M) + 1)


def _wait(m, types, timeout, cond=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = m.recv_match(type=types, blocking=True, timeout=0.5)
        if msg is not None and (cond is None or cond(msg)):
            return msg
    raise RuntimeError(f"no {types} within {timeout} s")


def _command(m, cmd, *p):
    p = list(p) + [0.0] * (7 - len(p))
    m.mav.command_long_send(m.target_system, m.target_component, cmd, 0, *p)
    return _wait(m, "COMMAND_ACK", 5, lambda a: a.command == cmd)


def _upload(m, items) -> None:
    m.mav.mission_count_send(m.target_system, m.target_component, len(items), 0)
    while True:
        msg = _wait(m, ["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"], 10)
        if msg.get_type() == "MISSION_ACK":
            if msg.type != M.MAV_MISSION_ACCEPTED:
                raise RuntimeError(f"mission upload refused: ack {msg.type}")
            return
        fr, cmd, p1, p2, p3, p4, lat, lon, alt = items[msg.seq]
        m.mav.mission_item_int_send(m.target_system, m.target_component, msg.seq, fr, cmd, 0, 1,
                                    p1, p2, p3, p4, int(round(lat * 1e7)),
                                    int(round(lon * 1e7)), alt, 0)


def fly(speedup: float, collector=None, timeout_s: float = 600.0) -> dict:
    """Fly the survey once; figures of that flight."""
    # Upload and arm at speed-up 1: the vehicle's protocol timeouts run in simulated time, as
    # on SITL, so a GCS at 10 000x would see its upload cancelled.  SIM_SPEEDUP is live.
    with start_vehicle("builtin", home=HOME, speedup=1.0) as v:
        m = mavutil.mavlink_connection(v.connection_string, source_system=245,
                                       source_component=190, autoreconnect=False)
        try:
            hb = _wait(m, "HEARTBEAT", 10)
            m.target_system, m.target_component = hb.get_srcSystem(), hb.get_srcComponent()
            m.mav.request_data_stream_send(m.target_system, m.target_component,
                                           M.MAV_DATA_STREAM_ALL, 4, 1)
            _wait(m, "SYS_STATUS", 30,
                  lambda s: s.onboard_control_sensors_health & M.MAV_SYS_STATUS_PREARM_CHECK)
            _upload(m, survey_items())
            if _command(m, M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4).result:
                raise RuntimeError("GUIDED refused")
            if _command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result:
                raise RuntimeError("arming refused")
            m.mav.param_set_send(m.target_system, m.target_component, b"SIM_SPEEDUP", speedup,
                                 M.MAV_PARAM_TYPE_REAL32)
            _wait(m, "PARAM_VALUE", 5, lambda p: p.param_id == "SIM_SPEEDUP")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if _command(m, M.MAV_CMD_MISSION_START).result:
                raise RuntimeError("mission start refused")
            photos, render_s = set(), 0.0
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = m.recv_match(blocking=True, timeout=0.5)
                if msg is None:
                    continue
                t = msg.get_type()
                if t == "CAMERA_FEEDBACK" and msg.img_idx not in photos:
                    photos.add(msg.img_idx)
                    if collector is not None:
                        r0 = time.perf_counter()
                        collector.on_trigger(msg.lat / 1e7, msg.lng / 1e7, msg.alt_msl,
                                             msg.alt_rel, msg.yaw, msg.pitch, msg.roll,
                                             msg.time_usec / 1e6, msg.img_idx)
                        render_s += time.perf_counter() - r0
                elif t == "STATUSTEXT" and msg.text.startswith("Land complete"):
                    break
            else:
                raise RuntimeError(f"the survey did not finish within {timeout_s} s of wall time")
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
        finally:
            m.close()
        # airborne simulated seconds as the vehicle counted them: reading its clock when the
        # GCS gets "Land complete" would add the time it idled while frames were rendered
        sim = v.server.vehicle.flight_time_s
    return {"sim_s": sim, "wall_s": wall, "cpu_s": cpu, "x": sim / wall, "cpu_x": sim / cpu,
            "photos": len(photos), "render_s": render_s,
            "photos_per_wall_s": len(photos) / wall}


def clock_baseline(seconds: float = 3.0) -> float:
    """Simulated seconds per wall second of an idle vehicle at speed-up 1 (should be ~1)."""
    with start_vehicle("builtin", home=HOME, speedup=1.0) as v:
        time.sleep(0.5)
        s0, w0 = v.server.sim_time, time.perf_counter()
        time.sleep(seconds)
        return (v.server.sim_time - s0) / (time.perf_counter() - w0)


def _pin_one_core() -> str:
    """Pin this process (and the threads it starts from now on) to one CPU."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"cpu {cpu}"


def run(speedup: float = 100.0, scale: float = 0.25, verbose: bool = False) -> dict:
    """Figures for ``python -m benchmarks``: times real time, photos, rendering cost."""
    from simulators.frames import FrameCollector
    from simulators.scene import Scene
    from uav.profiles import get_camera

    pinned = _pin_one_core()
    say = print if verbose else (lambda *a, **k: None)
    out: dict = {"pinned": pinned, "requested_speedup": speedup, "scale": scale,
                 "planned_photos": planned_photos()}
    out["baseline_clock_x_at_speedup_1"] = round(clock_baseline(), 3)
    say(f"baseline: speed-up 1 runs at {out['baseline_clock_x_at_speedup_1']}x")

    cap = fly(10_000.0)
    say(f"capacity (no rendering): {cap['sim_s']:.0f} s flown in {cap['wall_s']:.1f} s "
        f"= {cap['x']:.0f}x wall, {cap['cpu_x']:.0f}x CPU")
    nr = fly(speedup)
    say(f"speed-up {speedup:g}, no rendering: {nr['sim_s']:.0f} s in {nr['wall_s']:.1f} s "
        f"= {nr['x']:.1f}x, {nr['photos']} photos")

    cam = get_camera("mavic3e-wide")
    f = TangentPlane(HOME[1], HOME[0])
    lat0, lon0 = f.latlon_at(0.0, 0.0)
    lat1, lon1 = f.latlon_at(100.0 + LEG_M + 150.0, 100.0 + LEGS * SPACING_M + 100.0)
    t0 = time.perf_counter()
    scene = Scene.generate((lon0, lat0, lon1, lat1), seed=1, ground_alt_amsl=HOME[2])
    _ = scene.texture
    out["scene_build_s"] = round(time.perf_counter() - t0, 2)
    with tempfile.TemporaryDirectory() as tmp:
        fc = FrameCollector(tmp, scene, cam, scale)
        fc.sim_camera.render(lat0, lon0, HOME[2] + ALT, 0.0)  # warm pyramids and sprites
        r = fly(speedup, collector=fc)
        fc.finish()
        frames = len(fc.frames)
    with tempfile.TemporaryDirectory() as tmp:
        fc = FrameCollector(tmp, scene, cam, scale)
        fc.sim_camera.render(lat0, lon0, HOME[2] + ALT, 0.0)
        rcap = fly(10_000.0, collector=fc)
    say(f"capacity with rendering: {rcap['sim_s']:.0f} s in {rcap['wall_s']:.1f} s "
        f"= {rcap['x']:.0f}x wall")
    say(f"speed-up {speedup:g}, rendering at {scale}: {r['sim_s']:.0f} s in {r['wall_s']:.1f} s "
        f"= {r['x']:.1f}x wall, {r['cpu_x']:.1f}x CPU, {frames} frames, "
        f"{1000 * r['render_s'] / max(1, frames):.0f} ms/frame, "
        f"{r['photos_per_wall_s']:.1f} photos per wall second")
    out.update({
        "flight_sim_s": round(r["sim_s"], 1),
        "capacity_x": round(cap["x"], 1), "capacity_cpu_x": round(cap["cpu_x"], 1),
        "no_render_x": round(nr["x"], 1), "no_render_cpu_x": round(nr["cpu_x"], 1),
        "render_x": round(r["x"], 1), "render_cpu_x": round(r["cpu_x"], 1),
        "render_wall_s": round(r["wall_s"], 1),
        "render_capacity_x": round(rcap["x"], 1),
        "photos": r["photos"], "frames_written": frames,
        "ms_per_frame": round(1000 * r["render_s"] / max(1, frames), 1),
        "photos_per_wall_s": round(r["photos_per_wall_s"], 1),
        "photos_per_sim_s": round(r["photos"] / r["sim_s"], 3),
        "meets_50x": r["x"] >= 50.0,
    })
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speedup", type=float, default=100.0)
    ap.add_argument("--scale", type=float, default=0.25)
    a = ap.parse_args(argv)
    res = run(a.speedup, a.scale, verbose=True)
    for k, v in res.items():
        print(f"  {k:32s} {v}")


if __name__ == "__main__":
    main()
