"""Connection strings and opening them: ``tcp:HOST:PORT``, ``udp:``, ``udpout:``, serial devices.

What a pilot types, parsed once; and the pymavlink connection behind it, opened speaking
MAVLink2, with the usual mishaps (no such serial device, no permission, nothing listening)
told with what to do about them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

os.environ.setdefault("MAVLINK20", "1")  # before mavutil picks its dialect

from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from ..errors import InvalidInputError, LinkError  # noqa: E402

GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = mavlink.MAV_COMP_ID_MISSIONPLANNER

_SERIAL_RE = re.compile(r"^(?P<dev>(/dev/\S+?|COM\d+))(?:[:,@](?P<baud>\d+))?$", re.IGNORECASE)
_NET_RE = re.compile(r"^(?P<scheme>udp|udpin|udpout|tcp|tcpin):(?P<host>[^:]*):(?P<port>\d+)$")


@dataclass(frozen=True)
class Endpoint:
    """A parsed connection string.

    Attributes
    ----------
    scheme : str
        ``udpin``, ``udpout``, ``tcp``, ``tcpin`` or ``serial``.
    address : str
        ``HOST:PORT`` for network links, the device path for serial.
    baud : int
        Serial baud rate (ignored for network links).
    """

    scheme: str
    address: str
    baud: int = 57600

    @property
    def device(self) -> str:
        """The string pymavlink's ``mavlink_connection`` understands."""
        return self.address if self.scheme == "serial" else f"{self.scheme}:{self.address}"


def parse_connection_string(url: str) -> Endpoint:
    """Parse the connection strings pilots already use.

    ``udp:HOST:PORT`` listens (as MAVProxy and QGroundControl do), ``udpin:`` likewise,
    ``udpout:HOST:PORT`` sends to a vehicle, ``tcp:HOST:PORT`` connects, ``tcpin:`` listens,
    and a serial device takes an optional baud: ``/dev/ttyUSB0:57600``, ``COM3,115200``.

    Raises
    ------
    InvalidInputError
        If the string is none of these.
    """
    text = (url or "").strip()
    m = _NET_RE.match(text)
    if m:
        scheme = {"udp": "udpin"}.get(m["scheme"], m["scheme"])
        host = m["host"] or ("0.0.0.0" if scheme in ("udpin", "tcpin") else "127.0.0.1")
        port = int(m["port"])
        if not 0 < port < 65536:
            raise InvalidInputError(f"connection {url!r}: port {port} is not between 1 and 65535")
        return Endpoint(scheme, f"{host}:{port}")
    m = _SERIAL_RE.match(text)
    if m:
        return Endpoint("serial", m["dev"], int(m["baud"] or 57600))
    raise InvalidInputError(
        f"connection {url!r} is not understood; use udp:HOST:PORT, udpin:HOST:PORT, "
        "udpout:HOST:PORT, tcp:HOST:PORT or a serial device such as /dev/ttyUSB0:57600")


def _open_error(url: str, ep: Endpoint, exc: Exception) -> LinkError:
    """Why ``url`` could not be opened, with what to do about it for the usual serial mishaps."""
    import errno
    import glob

    code = getattr(exc, "errno", None)
    if ep.scheme == "serial":
        if code == errno.ENOENT or (ep.address.startswith("/dev/") and not os.path.exists(ep.address)):
            ports = sorted(glob.glob("/dev/ttyUSB*") + glob.glob("/dev/ttyACM*"))
            here = (f"serial ports on this computer: {', '.join(ports)}" if ports
                    else "no USB serial port is present on this computer")
            return LinkError(f"cannot open {url}: there is no serial device {ep.address}; is the aircraft "
                             f"(USB) or the telemetry radio plugged in? ({here})")
        if code == errno.EACCES:
            return LinkError(f"cannot open {url}: permission denied on {ep.address}; add your user to "
                             "the 'dialout' group (sudo usermod -aG dialout $USER) and log in again")
    why = getattr(exc, "strerror", None) or exc
    if code == errno.ECONNREFUSED or "refused" in str(why).lower():
        return LinkError(f"cannot open {url}: {why}: nothing listens there. Is the simulator "
                         "running (`uav sim start` prints its address), MAVProxy forwarding to "
                         "that port, or the address mistyped?")
    return LinkError(f"cannot open {url}: {why}")


def open_master(url: str, *, source_system: int = GCS_SYSTEM_ID,
                source_component: int = GCS_COMPONENT_ID):
    """Open the pymavlink connection for ``url`` (nothing is waited for)."""
    ep = parse_connection_string(url)
    try:
        master = mavutil.mavlink_connection(
            ep.device, baud=ep.baud, source_system=source_system,
            source_component=source_component, autoreconnect=False, retries=0)
    except Exception as exc:  # OSError, or the bare Exception pymavlink raises for serial/tcp
        raise _open_error(url, ep, exc) from exc
    # Speak MAVLink2 from the first byte: signing and the mission_type/opaque_id extensions
    # need it, whatever dialect mavutil was first imported with.
    if not isinstance(master.mav, mavlink.MAVLink):
        master.mav = mavlink.MAVLink(master, srcSystem=source_system,
                                     srcComponent=source_component)
    master.WIRE_PROTOCOL_VERSION = "2.0"
    master.mav.WIRE_PROTOCOL_VERSION = "2.0"
    master.first_byte = False  # no auto-detection back to MAVLink1
    # A bad packet (CRC, refused signature) becomes BAD_DATA instead of an exception.
    master.robust_parsing = True
    master.mav.robust_parsing = True

    def closed():
        raise LinkError(f"the connection to {url} closed (the radio or cable, a proxy on the "
                        "way, or the vehicle itself)")

    # pymavlink prints and retries forever on a closed TCP socket; make it an error instead.
    if hasattr(master, "handle_eof"):
        master.handle_eof = closed
        master.handle_disconnect = closed
    return master


