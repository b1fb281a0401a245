"""Flight control for an ArduPilot copter: modes, arming, takeoff, mission start, pause, RTL, land.

Every command waits for its COMMAND_ACK and, where the vehicle's state should change, for the
heartbeat that shows it.  A refusal says what the vehicle said (its STATUSTEXT lines, such as
"PreArm: Need 3D Fix"), a timeout says what was waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import ArmingError, CommandError, InvalidInputError, LinkTimeoutError
from ..items import command_name
from .connection import Link

_MODE_NAMES: dict[int, str] = dict(mavutil.mode_mapping_acm)  # number -> name
COPTER_MODES: dict[str, int] = {name: number for number, name in _MODE_NAMES.items()}
FORCE_ARM_MAGIC = 21196  # ArduPilot: param2 that skips pre-arm checks


def result_name(code: int) -> str:
    entry = mavlink.enums["MAV_RESULT"].get(int(code))
    return entry.name if entry is not None else f"MAV_RESULT {int(code)}"


def _command_label(command: int) -> str:
    return command_name(command).removeprefix("MAV_CMD_")


def mode_name(custom_mode: int) -> str:
    """``AUTO`` for copter custom mode 3."""
    return _MODE_NAMES.get(int(custom_mode), f"mode {int(custom_mode)}")


def mode_number(name: str) -> int:
    """The copter custom mode number for ``name`` (case-insensitive)."""
    key = name.strip().upper()
    if key not in COPTER_MODES:
        raise InvalidInputError(f"unknown flight mode {name!r}; copter modes are: "
                                f"{', '.join(sorted(COPTER_MODES))}")
    return COPTER_MODES[key]


def command(link: Link, cmd: int, *params: float, timeout: float = 1.5, retries: int = 4,
            error=CommandError, done: Callable[[], bool] | None = None,
            fade_s: float = 15.0) -> int:
    """Send COMMAND_LONG and wait for its COMMAND_ACK; return MAV_RESULT_ACCEPTED.

    On a radio link the command or its ack may be lost: the command is sent again (its
    ``confirmation`` counting up, as MAVLink asks), tries spent while nothing at all is heard
    from the vehicle (a fade, up to ``fade_s``) do not count, and ``done()``, when given, is
    asked whether the vehicle already did it (its heartbeat shows the mode, it is armed): a
    lost ack is not a failure, and a refusal of a repeat of a command that already acted
    (ArduPilot refuses a takeoff when flying) is not either.

    Raises
    ------
    CommandError (or ``error``)
        If the vehicle refuses (the message carries the result name and its STATUSTEXT) or
        never acknowledges.
    """
    started = time.monotonic()
    attempt = sent = 0
    while attempt <= retries:
        link.command_long(cmd, *params, confirmation=min(sent, 255))
        sent += 1
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            ack = link.poll("COMMAND_ACK", max(remaining, 0.0),
                            condition=lambda m: m.command == int(cmd))
            if ack is None:
                break
            if ack.result == mavlink.MAV_RESULT_IN_PROGRESS:
                deadline = time.monotonic() + timeout
                continue
            if ack.result == mavlink.MAV_RESULT_ACCEPTED:
                return ack.result
            if sent > 1 and done is not None and done():
                return mavlink.MAV_RESULT_ACCEPTED  # an earlier send acted; its ack was lost
            texts = _texts(link, started)
            raise error(f"the vehicle refused {_command_label(cmd)}: {result_name(ack.result)}"
                        + (f" - {texts}" if texts else ""))
        if done is not None and done():
            return mavlink.MAV_RESULT_ACCEPTED
        quiet = link.quiet_for()
        if timeout <= quiet < fade_s:
            continue  # nothing heard at all: a fade, not a vehicle ignoring us
        attempt += 1
    raise error(f"no answer to {_command_label(cmd)}: sent it {sent} times over "
                f"{time.monotonic() - started:.0f} s without the vehicle's COMMAND_ACK")


def _heard_state(link: Link, check: Callable[[object], bool]) -> bool:
    """Whether the vehicle's latest heartbeat (read now, briefly) shows ``check``."""
    hb = link.poll("HEARTBEAT", 0.0, condition=_vehicle_heartbeat) or link.last.get("HEARTBEAT")
    if hb is None or hb.type == mavlink.MAV_TYPE_GCS:
        hb = link.poll("HEARTBEAT", 1.1, condition=_vehicle_heartbeat)
    return hb is not None and check(hb)


def _vehicle_heartbeat(m) -> bool:
    return m.type != mavlink.MAV_TYPE_GCS


def _texts(link: Link, since: float, settle: float = 0.2) -> str:
    link.poll("STATUSTEXT", settle)  # the reason often follows the ack by a few ms
    return "; ".join(link.recent_statustext(since))


def heartbeat(link: Link, timeout: float = 6.0):
    """The vehicle's next heartbeat."""
    return link.wait_heartbeat(timeout)


def is_armed(hb) -> bool:
    return bool(hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)


def wait_mode(link: Link, name: str, timeout: float = 8.0) -> None:
    """Wait until the heartbeat shows mode ``name``."""
    number = mode_number(name)
    link.recv("HEARTBEAT", timeout, f"the vehicle to report mode {name.upper()}",
              condition=lambda m: m.custom_mode == number and m.type != mavlink.MAV_TYPE_GCS)


def set_mode(link: Link, name: str, timeout: float = 8.0) -> None:
    """Switch to flight mode ``name`` (GUIDED, AUTO, LOITER, RTL, LAND, BRAKE, ...)."""
    number = mode_number(name)
    command(link, mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
            number, done=lambda: _heard_state(link, lambda hb: hb.custom_mode == number))
    wait_mode(link, name, timeout)


def wait_armed(link: Link, armed: bool = True, timeout: float = 8.0) -> None:
    """Wait until the heartbeat shows the vehicle armed (or disarmed)."""
    what = "armed" if armed else "disarmed"
    link.recv("HEARTBEAT", timeout, f"the vehicle to report it is {what}",
              condition=lambda m: m.type != mavlink.MAV_TYPE_GCS and is_armed(m) == armed)


def arm(link: Link, force: bool = False, timeout: float = 8.0) -> None:
    """Arm the motors.

    Raises
    ------
    ArmingError
        With the vehicle's own reason (its pre-arm STATUSTEXT), e.g.
        "PreArm: Need 3D Fix".
    """
    started = time.monotonic()
    command(link, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, FORCE_ARM_MAGIC if force else 0,
            error=ArmingError, done=lambda: _heard_state(link, is_armed))
    try:
        wait_armed(link, True, timeout)
    except LinkTimeoutError as exc:
        texts = _texts(link, started)
        raise ArmingError(f"the vehicle accepted the arm command but did not arm within "
                          f"{timeout:.0f} s" + (f": {texts}" if texts else "")) from exc


def disarm(link: Link, force: bool = False, timeout: float = 5.0) -> None:
    """Disarm the motors (refused in flight unless ``force``)."""
    command(link, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, FORCE_ARM_MAGIC if force else 0)
    wait_armed(link, False, timeout)


def relative_altitude(link: Link, timeout: float = 2.0) -> float:
    """Current altitude above home in metres (GLOBAL_POSITION_INT)."""
    msg = link.recv("GLOBAL_POSITION_INT", timeout, "a position report (GLOBAL_POSITION_INT)")
    return msg.relative_alt / 1000.0


def wait_altitude(link: Link, altitude_m: float, tolerance_m: float = 1.0,
                  timeout: float = 60.0) -> float:
    """Wait until the altitude above home is within ``tolerance_m`` of ``altitude_m``."""
    msg = link.recv("GLOBAL_POSITION_INT", timeout,
                    f"the vehicle to reach {altitude_m:.0f} m above home",
                    condition=lambda m: abs(m.relative_alt / 1000.0 - altitude_m) <= tolerance_m)
    return msg.relative_alt / 1000.0


def wait_home(link: Link, timeout: float = 60.0):
    """Wait until the vehicle has a position and a home (HOME_POSITION with a location).

    ArduPilot refuses GUIDED and arming until its EKF uses GPS and home is set.
    """
    known = link.last.get("HOME_POSITION")
    if known is not None and (known.latitude or known.longitude):
        return known
    deadline = time.monotonic() + timeout
    while True:
        link.command_long(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION)
        msg = link.poll("HOME_POSITION", min(1.0, max(deadline - time.monotonic(), 0.0)),
                        condition=lambda m: m.latitude != 0 or m.longitude != 0)
        if msg is not None:
            return msg
        if time.monotonic() >= deadline:
            raise LinkTimeoutError(f"waited {timeout:.0f} s for the vehicle to have a GPS "
                                   "position and set its home (HOME_POSITION)")


def takeoff(link: Link, altitude_m: float, wait: bool = True, timeout: float = 60.0) -> None:
    """GUIDED, arm, and climb to ``altitude_m`` above home.

    Raises
    ------
    ArmingError
        If the vehicle will not arm (with its reason).
    CommandError, LinkTimeoutError
        If takeoff is refused or the altitude is not reached in ``timeout`` seconds.
    """
    if not 1.0 <= altitude_m <= 500.0:
        raise InvalidInputError(f"takeoff altitude {altitude_m} m is outside 1-500 m")
    wait_home(link, timeout)
    set_mode(link, "GUIDED")
    # on a radio that loses half its frames six heartbeats in a row can go missing: wait as
    # long as a takeoff may take (up to 30 s), not the 6 s of a good link
    hb = heartbeat(link, max(6.0, min(timeout, 30.0)))
    if not is_armed(hb):
        arm(link)
    # a repeat of a takeoff that already acted is refused by a flying copter: climbing is done
    command(link, mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, altitude_m,
            done=lambda: _climbing(link))
    if wait:
        wait_altitude(link, altitude_m, tolerance_m=max(0.5, altitude_m * 0.05),
                      timeout=timeout)


def _climbing(link: Link) -> bool:
    pos = link.poll("GLOBAL_POSITION_INT", 1.0) or link.last.get("GLOBAL_POSITION_INT")
    return pos is not None and pos.relative_alt > 500  # mm: off the ground


def start_mission(link: Link) -> None:
    """Start the uploaded mission: MAV_CMD_MISSION_START, or AUTO mode if that is refused."""
    try:
        command(link, mavlink.MAV_CMD_MISSION_START, 0, 0)
        wait_mode(link, "AUTO", 3.0)
    except (CommandError, LinkTimeoutError):
        set_mode(link, "AUTO")


def pause(link: Link) -> None:
    """Hold position mid-mission (DO_PAUSE_CONTINUE 0; BRAKE if that is refused)."""
    try:
        command(link, mavlink.MAV_CMD_DO_PAUSE_CONTINUE, 0)
    except CommandError:
        set_mode(link, "BRAKE")


def resume(link: Link) -> None:
    """Continue the mission after :func:`pause`."""
    hb = heartbeat(link)
    if mode_name(hb.custom_mode) != "AUTO":
        set_mode(link, "AUTO")
        return
    command(link, mavlink.MAV_CMD_DO_PAUSE_CONTINUE, 1)


def rtl(link: Link, timeout: float = 30.0) -> None:
    """Return to launch; on a fading link keep asking until the heartbeat shows RTL or
    ``timeout`` passes (a pilot's Ctrl-C must not end at the first lost answer)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            set_mode(link, "RTL", timeout=min(8.0, max(deadline - time.monotonic(), 0.5)))
            return
        except (CommandError, LinkTimeoutError):
            if time.monotonic() >= deadline:
                raise


def land(link: Link) -> None:
    """Land where the vehicle is."""
    set_mode(link, "LAND")


def wait_landed(link: Link, timeout: float = 120.0) -> None:
    """Wait until the vehicle has landed and disarmed itself."""
    wait_armed(link, False, timeout)


def wait_item_reached(link: Link, seq: int, timeout: float = 120.0) -> None:
    """Wait for MISSION_ITEM_REACHED of mission item ``seq`` (or a later one)."""
    link.recv("MISSION_ITEM_REACHED", timeout, f"the vehicle to reach mission item {seq}",
              condition=lambda m: m.seq >= seq)
