"""Reopening a link that closed: a USB radio pulled out and plugged back in, a proxy restarting.

:func:`enable_reconnect` gives a :class:`~uav.link.connection.Link` the means to open its
connection string again when a read or write finds it closed; the transfer or command under
way then carries on (its own retries resend what was lost), as if the link had faded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import LinkError
from .connection import Link, _Closed
from .endpoints import open_master


def enable_reconnect(link: Link, seconds: float,
                     on_event: Callable[[str], None] | None = None) -> None:
    """Reopen ``link`` for up to ``seconds`` whenever it closes (0 turns it off); tell
    ``on_event`` in a pilot's words when it is lost and when it is back."""
    if seconds <= 0:
        link.recover = None
        return
    link.recover = lambda: _recover(link, seconds, on_event or (lambda _text: None))


def _recover(link: Link, seconds: float, tell: Callable[[str], None]) -> bool:
    lost_at = time.monotonic()
    deadline = lost_at + seconds
    tell(f"the link to {link.url} was lost; reconnecting for up to {seconds:.0f} s")
    ids = (link.master.mav.srcSystem, link.master.mav.srcComponent)
    try:
        link.master.close()
    except Exception:  # noqa: BLE001 - the old connection is gone either way
        pass
    last_error = "nothing answered"
    while time.monotonic() < deadline:
        try:
            master = open_master(link.url, source_system=ids[0], source_component=ids[1])
        except LinkError as exc:
            last_error = str(exc)
            time.sleep(0.5)
            continue
        if _adopt(link, master, deadline):
            link.reconnects += 1
            tell(f"the link to {link.url} is back after {time.monotonic() - lost_at:.1f} s; "
                 "carrying on")
            return True
        last_error = "no heartbeat from the vehicle on the new connection"
        try:
            master.close()
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.5)
    link.master = _Closed(link.url)
    raise LinkError(f"the link to {link.url} was lost and did not come back within "
                    f"{seconds:.0f} s ({last_error}); check the telemetry radio or cable")


def _adopt(link: Link, master, deadline: float) -> bool:
    """Take ``master`` as the link's connection once the vehicle's heartbeat arrives on it."""
    old_master = link.master
    link.master = master
    link._wrap_send()
    if link.signing is not None:
        from .signing import enable_signing

        enable_signing(link, link.signing)
    master.target_system = link.target_system
    master.target_component = link.target_component
    wait_until = min(deadline, time.monotonic() + 3.0)
    while time.monotonic() < wait_until:
        link._keepalive(force=True)
        try:
            msg = link._read_one(0.2)
        except LinkError:
            break
        if msg is not None and msg.get_type() == "HEARTBEAT" and \
                msg.get_srcSystem() == link.target_system:
            link._dispatch(msg)
            return True
    link.master = old_master
    return False
