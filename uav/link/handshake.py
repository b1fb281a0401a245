"""Opening a link to a vehicle: its first heartbeat, who it is, signing, telemetry streams.

:func:`connect` turns a connection string into a :class:`~uav.link.connection.Link` that
knows its vehicle; the link itself (sending, receiving, waiting) lives in
:mod:`uav.link.connection`, which needs nothing from here or from signing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import LinkTimeoutError, SigningError
from .connection import Link, VehicleInfo, _enum_name, _is_vehicle_heartbeat, firmware_version
from .endpoints import GCS_COMPONENT_ID, GCS_SYSTEM_ID, open_master
from .signing import enable_signing

# Messages a flight needs; ArduPilot sends none of them until asked.
TELEMETRY_MESSAGES = (
    "GLOBAL_POSITION_INT", "SYS_STATUS", "GPS_RAW_INT", "VFR_HUD", "ATTITUDE",
    "MISSION_CURRENT", "HOME_POSITION", "BATTERY_STATUS", "EXTENDED_SYS_STATE",
)


def connect(url: str, *, timeout: float = 10.0, source_system: int = GCS_SYSTEM_ID,
            source_component: int = GCS_COMPONENT_ID, signing_key=None,
            identify: bool = True, stream_rate_hz: float = 4.0,
            allow_signed_vehicle: bool = False) -> Link:
    """Connect to a vehicle and wait until it is known.

    Parameters
    ----------
    url : str
        ``udp:HOST:PORT``, ``udpin:HOST:PORT``, ``udpout:HOST:PORT``, ``tcp:HOST:PORT`` or a
        serial device with baud (``/dev/ttyUSB0:57600``).
    timeout : float
        Seconds to wait for the vehicle's first heartbeat.
    source_system, source_component : int
        Our ids; 255 / MAV_COMP_ID_MISSIONPLANNER is what a ground station uses.
    signing_key : str or pathlib.Path or uav.link.signing.SigningKey, optional
        Sign everything sent with this key and refuse unsigned or wrongly signed answers
        (except RADIO_STATUS).  A vehicle that answers unsigned raises SigningError.
    identify : bool
        Ask for AUTOPILOT_VERSION to learn the firmware.
    stream_rate_hz : float
        Telemetry rate to request (0 requests nothing).
    allow_signed_vehicle : bool
        Without ``signing_key``, a vehicle that signs its messages would ignore everything we
        send; that is an error unless this is True (for re-keying).

    Returns
    -------
    Link

    Raises
    ------
    InvalidInputError
        For a connection string that is not understood.
    LinkError, LinkTimeoutError, SigningError
        When nothing (or nothing acceptable) answers.
    """
    started = time.monotonic()
    master = open_master(url, source_system=source_system, source_component=source_component)
    link = Link(master, url)
    try:
        if signing_key is not None:
            enable_signing(link, signing_key)
        hb = _wait_first_heartbeat(link, timeout)
        if hb.get_signed() and signing_key is None and not allow_signed_vehicle:
            raise SigningError(
                f"the vehicle on {url} signs its messages (MAVLink2 signing is set up on it) "
                "and will ignore unsigned commands: give this aircraft's key with "
                "--signing-key")
        link.target_system = hb.get_srcSystem()
        link.target_component = hb.get_srcComponent()
        master.target_system = link.target_system
        master.target_component = link.target_component
        info = VehicleInfo(
            system_id=link.target_system, component_id=link.target_component,
            autopilot=_enum_name("MAV_AUTOPILOT", hb.autopilot, "MAV_AUTOPILOT_"),
            vehicle_type=_enum_name("MAV_TYPE", hb.type, "MAV_TYPE_"))
        link.vehicle = info
        if identify:
            link.vehicle = identify_vehicle(link, info)
            # A lossy radio can lose three requests in a row: keep asking for the whole
            # connect timeout, unless the vehicle's frames are signed (then it ignores us
            # for want of a key, and waiting longer changes nothing).
            while not link.answered and not link.signed_frames and \
                    time.monotonic() - started < timeout:
                link.vehicle = identify_vehicle(link, info, retries=0)
        if stream_rate_hz > 0:
            request_telemetry(link, stream_rate_hz)
    except BaseException:
        link.close()
        raise
    return link


def _wait_first_heartbeat(link: Link, timeout: float):
    signing = link.mav.signing
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        hb = link.poll("HEARTBEAT", min(remaining, 1.0) if remaining > 0 else 0.0,
                       condition=_is_vehicle_heartbeat)
        if hb is not None:
            return hb
        if signing.secret_key is not None:
            # A signing link sees the vehicle's packets but drops them: say why.
            if signing.badsig_count:
                raise SigningError(
                    f"the vehicle on {link.url} signs its messages with a different key "
                    f"({signing.badsig_count} packets failed the signature check): check that "
                    "this aircraft's key file is the one set up on it")
            if signing.reject_count:
                raise SigningError(
                    f"the vehicle on {link.url} answers unsigned ({signing.reject_count} unsigned "
                    "packets refused): signing is not set up on it; run `uav signing setup` "
                    "over USB first")
        if time.monotonic() >= deadline:
            raise LinkTimeoutError(
                f"no vehicle on {link.url}: waited {timeout:.1f} s for a heartbeat "
                "(is the vehicle on, the address and port right, the radio connected?)")


def identify_vehicle(link: Link, info: VehicleInfo, timeout: float = 0.7,
                     retries: int = 2) -> VehicleInfo:
    """Ask for AUTOPILOT_VERSION (MAV_CMD_REQUEST_MESSAGE) and fill in the firmware."""
    for _ in range(retries + 1):
        asked = time.monotonic()
        link.command_long(mavlink.MAV_CMD_REQUEST_MESSAGE,
                          mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
        msg = link.poll("AUTOPILOT_VERSION", timeout)
        if msg is not None:
            link.rtt_s = time.monotonic() - asked
            return VehicleInfo(
                info.system_id, info.component_id, info.autopilot, info.vehicle_type,
                firmware=firmware_version(msg.flight_sw_version),
                capabilities=int(msg.capabilities), board_version=int(msg.board_version))
    return info


def request_telemetry(link: Link, rate_hz: float = 4.0,
                      messages: Iterable[str] = TELEMETRY_MESSAGES) -> None:
    """Ask for telemetry streams (ArduPilot sends none on a fresh link until asked).

    Uses SET_MESSAGE_INTERVAL per message and, for older firmware, REQUEST_DATA_STREAM.
    Nothing is waited for: the answers arrive as the streams start.
    """
    interval_us = int(1e6 / rate_hz)
    for name in messages:
        msg_id = getattr(mavlink, f"MAVLINK_MSG_ID_{name}", None)
        if msg_id is None:
            continue
        link.command_long(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, msg_id, interval_us)
    link.mav.request_data_stream_send(link.target_system, link.target_component,
                                      mavlink.MAV_DATA_STREAM_ALL, max(1, int(rate_hz)), 1)
