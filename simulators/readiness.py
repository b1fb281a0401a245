"""Wait until a simulated copter can arm, over MAVLink, the same way for both backends.

"Ready" is what ArduCopter needs before it arms in GUIDED or AUTO: a heartbeat past BOOT,
a 3D GPS fix, an EKF with attitude, velocity and absolute position, and SYS_STATUS saying the
pre-arm checks pass.  Real SITL takes about 40 simulated seconds to get there (the EKF starts
using GPS last); a GCS that talks to it earlier gets "Arm: Need Position Estimate", and one that
uploads while it boots gets its MISSION_COUNT refused.

Both vehicles boot at a raised speed-up and are switched to the speed asked for (ArduPilot's
``SIM_SPEEDUP`` parameter, which the built-in copter also obeys) once they are ready.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from uav.errors import SimulatorError


@dataclass
class ReadyStatus:
    """What :func:`wait_until_ready` saw when the copter became ready to arm."""

    seconds: float
    gps_fix_type: int
    satellites: int
    ekf_flags: int
    prearm_ok: bool
    autopilot: int
    vehicle_type: int
    messages: list[str]


def wait_until_ready(conn_str: str, timeout: float, who: str = "the simulated copter",
                     alive: Callable[[], str | None] | None = None, log_hint: str = "",
                     then_speedup: float | None = None) -> ReadyStatus:
    """Connect to ``conn_str`` and return once the copter can arm.

    Parameters
    ----------
    alive : callable, optional
        Returns None while the simulator runs, else why it stopped (checked every loop).
    log_hint : str
        Appended to errors (where the simulator's log is).
    then_speedup : float, optional
        Once ready, set ``SIM_SPEEDUP`` to this (the booting speed-up was higher).

    Raises
    ------
    SimulatorError
        On timeout, naming what was still missing (and the last arming text).
    """
    os.environ.setdefault("MAVLINK20", "1")  # before mavutil picks its dialect
    from pymavlink import mavutil
    from pymavlink.dialects.v20 import ardupilotmega as mav

    t0 = time.monotonic()
    try:
        conn = mavutil.mavlink_connection(conn_str, source_system=254, source_component=190,
                                          autoreconnect=False)
    except OSError as exc:
        raise SimulatorError(f"cannot connect to {who} at {conn_str}: {exc}") from None
    ekf_needed = (mav.EKF_ATTITUDE | mav.EKF_VELOCITY_HORIZ | mav.EKF_VELOCITY_VERT
                  | mav.EKF_POS_HORIZ_ABS | mav.EKF_POS_VERT_ABS)
    prearm_bit = mav.MAV_SYS_STATUS_PREARM_CHECK
    state = {"hb": None, "fix": 0, "sats": 0, "ekf": None, "prearm": None, "texts": []}
    last_request = 0.0
    try:
        while True:
            now = time.monotonic()
            stopped = alive() if alive is not None else None
            if stopped:
                raise SimulatorError(f"{who} stopped while starting up: {stopped}{log_hint}")
            if now - t0 > timeout:
                raise SimulatorError(_not_ready_message(who, timeout, state, ekf_needed)
                                     + log_hint)
            if now - last_request > 2.0 and state["hb"] is not None:
                # streams are off on a fresh link until asked for; asked again in case the
                # first ask came while the vehicle was still booting
                for msg_id in (mav.MAVLINK_MSG_ID_SYS_STATUS, mav.MAVLINK_MSG_ID_GPS_RAW_INT,
                               mav.MAVLINK_MSG_ID_EKF_STATUS_REPORT):
                    conn.mav.command_long_send(state["hb"].get_srcSystem(), 1,
                                               mav.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                                               msg_id, 200_000, 0, 0, 0, 0, 0)
                last_request = now
            msg = conn.recv_match(blocking=True, timeout=0.3)
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "HEARTBEAT" and msg.get_srcComponent() == 1:
                if state["hb"] is None:
                    last_request = 0.0
                state["hb"] = msg
            elif kind == "GPS_RAW_INT":
                state["fix"], state["sats"] = msg.fix_type, msg.satellites_visible
            elif kind == "EKF_STATUS_REPORT":
                state["ekf"] = msg.flags
            elif kind == "SYS_STATUS":
                if msg.onboard_control_sensors_present & prearm_bit:
                    state["prearm"] = bool(msg.onboard_control_sensors_health & prearm_bit)
            elif kind == "STATUSTEXT":
                state["texts"].append(msg.text)
                del state["texts"][:-20]
            hb = state["hb"]
            if (hb is not None and hb.system_status >= mav.MAV_STATE_STANDBY
                    and state["fix"] >= 3 and state["ekf"] is not None
                    and (state["ekf"] & ekf_needed) == ekf_needed and state["prearm"] is True):
                if then_speedup is not None:
                    _set_speedup(conn, hb.get_srcSystem(), then_speedup, who)
                return ReadyStatus(round(time.monotonic() - t0, 2), state["fix"], state["sats"],
                                   state["ekf"], True, hb.autopilot, hb.type,
                                   list(state["texts"]))
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _set_speedup(conn, sysid: int, speedup: float, who: str) -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mav

    for _ in range(5):
        conn.mav.param_set_send(sysid, 1, b"SIM_SPEEDUP", float(speedup),
                                mav.MAV_PARAM_TYPE_REAL32)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            got = conn.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.2)
            if (got is not None and got.param_id == "SIM_SPEEDUP"
                    and abs(got.param_value - speedup) < 1e-3):
                return
    raise SimulatorError(f"{who} did not take SIM_SPEEDUP={speedup:g} after booting")


def _not_ready_message(who, timeout, state, ekf_needed) -> str:
    waiting = []
    hb = state["hb"]
    if hb is None:
        waiting.append("a HEARTBEAT from the autopilot (is its port answering?)")
    else:
        if hb.system_status < 3:
            waiting.append("the autopilot to finish booting (HEARTBEAT still says BOOT)")
        if state["fix"] < 3:
            waiting.append(f"a 3D GPS fix (fix type {state['fix']}, {state['sats']} satellites)")
        if state["ekf"] is None:
            waiting.append("an EKF_STATUS_REPORT")
        elif (state["ekf"] & ekf_needed) != ekf_needed:
            waiting.append(f"the EKF to use GPS (flags 0x{state['ekf']:04x}, need "
                           f"0x{ekf_needed:04x}: attitude, velocity and absolute position)")
        if state["prearm"] is not True:
            armtexts = [t for t in state["texts"] if "arm" in t.lower()]
            last = f"; last: {armtexts[-1]!r}" if armtexts else ""
            waiting.append("pre-arm checks to pass" + last)
    return (f"{who} was not ready to arm after {timeout:.0f} s; still waiting for "
            + ", ".join(waiting) + ".")


__all__ = ["ReadyStatus", "wait_until_ready"]
