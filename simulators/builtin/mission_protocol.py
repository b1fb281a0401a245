"""ArduPilot's mission item protocol for mission, fence and rally, vehicle side.

Behaviour reproduced (from ArduPilot's ``MissionItemProtocol.cpp`` and observations on SITL):

* MISSION_COUNT starts an upload: the vehicle asks for items one at a time with plain
  MISSION_REQUEST (never _INT), seq 0 first, and asks for the next item as soon as one is stored.
* A count above capacity: ``Only N items are supported`` STATUSTEXT + MISSION_ACK NO_SPACE; the
  old list is kept and nothing is requested.
* The mission and rally lists are cut to the new count as soon as MISSION_COUNT arrives, and
  items are written as they arrive (uploads are not atomic); a fence is swapped in whole at the
  end.
* An item with the wrong seq gets MISSION_ACK INVALID_SEQUENCE and the transfer goes on.  An item
  when no upload is running gets MISSION_ACK ERROR.
* No answer: the current request is re-sent every 1 s; 8 s after the last stored item the upload
  is abandoned with MISSION_ACK OPERATION_CANCELLED.  Both times run on the vehicle's clock,
  which is simulated time (ArduPilot's ``millis()`` is simulated time in SITL), so they shrink
  with the speed-up factor.
* Downloads are stateless: MISSION_REQUEST_LIST -> MISSION_COUNT, MISSION_REQUEST_INT ->
  MISSION_ITEM_INT, MISSION_REQUEST -> MISSION_ITEM (with a one-off warning).  Requests during
  an upload of the same type are DENIED.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.limits import ARDUPILOT_MAX_ITEMS

from .storage import (
    Incoming,
    StoredItem,
    store_fence_item,
    store_mission_item,
    store_rally_item,
    validate_fence,
)

M = mavlink

RETRY_S = 1.0
UPLOAD_TIMEOUT_S = 8.0

# capacity as on SITL (mission from the notes; fence and rally from storage sizes, approximate)
MAX_ITEMS = {M.MAV_MISSION_TYPE_MISSION: ARDUPILOT_MAX_ITEMS, M.MAV_MISSION_TYPE_FENCE: 200,
             M.MAV_MISSION_TYPE_RALLY: 100}


@dataclass
class _Upload:
    channel: object
    sysid: int
    compid: int
    request_i: int
    request_last: int
    last_receive: float
    last_request: float
    new_items: list[StoredItem] = field(default_factory=list)
    item_warning_sent: bool = False


class ItemList:
    """The stored list of one mission type, with ArduPilot's home-at-seq-0 rule for missions."""

    def __init__(self, mission_type: int, home: Callable[[], tuple[float, float, float]]):
        self.mission_type = mission_type
        self.items: list[StoredItem] = []
        self._home = home
        self.version = 0  # bumped on every change, so the vehicle can notice

    def count(self) -> int:
        return len(self.items)

    def get(self, seq: int) -> StoredItem | None:
        if not 0 <= seq < len(self.items):
            return None
        if self.mission_type == M.MAV_MISSION_TYPE_MISSION and seq == 0:
            lat, lon, alt = self._home()
            return StoredItem(M.MAV_CMD_NAV_WAYPOINT, M.MAV_FRAME_GLOBAL, x=int(round(lat * 1e7)),
                              y=int(round(lon * 1e7)), z=float(int(alt * 100)) / 100)
        return self.items[seq]

    def set_items(self, items: list[StoredItem]) -> None:
        self.items = list(items)
        self.version += 1

    def opaque_id(self) -> int:
        if self.mission_type != M.MAV_MISSION_TYPE_MISSION:
            return 0
        crc = zlib.crc32(repr(self.items[1:]).encode())
        return crc or 1


class MissionItemProtocol:
    """One mission type's transfer state machine.

    Parameters
    ----------
    items : ItemList
        The stored list this protocol reads and writes.
    now : callable
        The vehicle clock, simulated seconds.
    send_text : callable
        ``send_text(severity, text)`` broadcasts a STATUSTEXT.
    can_clear : callable
        Returns a refusal reason when the list may not be cleared now (mission running).
    """

    def __init__(self, items: ItemList, now: Callable[[], float],
                 send_text: Callable[[int, str], None],
                 can_clear: Callable[[], str | None] = lambda: None):
        self.items = items
        self.mission_type = items.mission_type
        self.now = now
        self.send_text = send_text
        self.can_clear = can_clear
        self.upload: _Upload | None = None
        self.max_items = MAX_ITEMS[self.mission_type]
        self._store = {M.MAV_MISSION_TYPE_MISSION: store_mission_item,
                       M.MAV_MISSION_TYPE_FENCE: store_fence_item,
                       M.MAV_MISSION_TYPE_RALLY: store_rally_item}[self.mission_type]
        self._request_warning_sent = False
        self.on_complete: Callable[[], None] | None = None

    # --- helpers ---------------------------------------------------------------------------
    def _ack(self, channel, sysid, compid, result) -> None:
        # this pymavlink's MISSION_ACK/MISSION_COUNT carry no opaque_id extension
        channel.send(M.MAVLink_mission_ack_message(sysid, compid, result, self.mission_type))

    def _send_request(self) -> None:
        up = self.upload
        up.channel.send(M.MAVLink_mission_request_message(up.sysid, up.compid, up.request_i,
                                                          self.mission_type))
        up.last_request = self.now()

    @property
    def receiving(self) -> bool:
        return self.upload is not None

    def _cancel_upload(self, channel, msg) -> bool:
        if self.upload is not None:
            if msg.get_srcSystem() != self.upload.sysid \
                    or msg.get_srcComponent() != self.upload.compid:
                self._ack(channel, msg.get_srcSystem(), msg.get_srcComponent(),
                          M.MAV_MISSION_DENIED)
                return False
            self.upload = None
        return True

    # --- upload ----------------------------------------------------------------------------
    def handle_count(self, channel, msg) -> None:
        if not self._cancel_upload(channel, msg):
            return
        sysid, compid = msg.get_srcSystem(), msg.get_srcComponent()
        if msg.count > self.max_items:
            self._ack(channel, sysid, compid, M.MAV_MISSION_NO_SPACE)
            self.send_text(M.MAV_SEVERITY_WARNING, f"Only {self.max_items} items are supported")
            return
        if self.mission_type != M.MAV_MISSION_TYPE_FENCE:
            # not atomic: the old list is cut to the new length straight away
            self.items.set_items(self.items.items[:msg.count])
        if msg.count == 0:
            if self.mission_type == M.MAV_MISSION_TYPE_FENCE:
                self.items.set_items([])
            self._ack(channel, sysid, compid, M.MAV_MISSION_ACCEPTED)
            self._completed()
            return
        t = self.now()
        self.upload = _Upload(channel, sysid, compid, 0, msg.count - 1, t, t)
        self._send_request()

    def handle_item(self, channel, msg) -> None:
        sysid, compid = msg.get_srcSystem(), msg.get_srcComponent()
        up = self.upload
        if up is None:
            self._ack(channel, sysid, compid, M.MAV_MISSION_ERROR)
            return
        if msg.seq != up.request_i:
            self._ack(up.channel, sysid, compid, M.MAV_MISSION_INVALID_SEQUENCE)
            return
        if sysid != up.sysid or compid != up.compid:
            self._ack(up.channel, sysid, compid, M.MAV_MISSION_DENIED)
            return
        # The same ground station reconnected (a TCP client back on SITL's serial port, which
        # ArduPilot sees as the one link it was uploading on): answer it where it is now.
        up.channel = channel
        if msg.get_type() == "MISSION_ITEM" and not up.item_warning_sent:
            up.item_warning_sent = True
            self.send_text(M.MAV_SEVERITY_WARNING,
                           "got MISSION_ITEM; GCS should send MISSION_ITEM_INT")
        result, stored = self._store(Incoming.from_message(msg))
        if result == M.MAV_MISSION_ACCEPTED:
            if self.mission_type == M.MAV_MISSION_TYPE_FENCE:
                up.new_items.append(stored)
            else:
                cur = self.items.items
                if msg.seq < len(cur):
                    cur[msg.seq] = stored
                elif msg.seq == len(cur):
                    cur.append(stored)
                else:
                    result = M.MAV_MISSION_ERROR
                self.items.version += 1
        if result != M.MAV_MISSION_ACCEPTED:
            self._ack(up.channel, sysid, compid, result)
            self.upload = None
            return
        up.last_receive = self.now()
        up.request_i += 1
        if up.request_i > up.request_last:
            result = M.MAV_MISSION_ACCEPTED
            if self.mission_type == M.MAV_MISSION_TYPE_FENCE:
                problem = validate_fence(up.new_items)
                if problem:
                    self.send_text(M.MAV_SEVERITY_WARNING, f"Fence: {problem}")
                    result = M.MAV_MISSION_ERROR
                else:
                    self.items.set_items(up.new_items)
            self.upload = None
            self._ack(channel, sysid, compid, result)
            if result == M.MAV_MISSION_ACCEPTED:
                self._completed()
            return
        self._send_request()

    def _completed(self) -> None:
        if self.on_complete is not None:
            self.on_complete()

    def update(self) -> None:
        """Run the retry and timeout clocks; call often."""
        up = self.upload
        if up is None:
            return
        t = self.now()
        if t - up.last_receive > UPLOAD_TIMEOUT_S:
            self.upload = None
            self._ack(up.channel, up.sysid, up.compid, M.MAV_MISSION_OPERATION_CANCELLED)
            return
        if t - up.last_request > RETRY_S:
            self._send_request()

    def drop_channel(self, channel) -> None:
        """A ground station hung up.  Its upload stays open, as on ArduPilot (whose serial
        port outlives the TCP client): others are DENIED until the 8 s timeout drops it."""

    # --- download and clear ------------------------------------------------------------------
    def handle_request_list(self, channel, msg) -> None:
        sysid, compid = msg.get_srcSystem(), msg.get_srcComponent()
        if self.receiving:
            self._ack(channel, sysid, compid, M.MAV_MISSION_DENIED)
            return
        channel.send(M.MAVLink_mission_count_message(sysid, compid, self.items.count(),
                                                     self.mission_type))

    def handle_request(self, channel, msg) -> None:
        sysid, compid = msg.get_srcSystem(), msg.get_srcComponent()
        is_int = msg.get_type() == "MISSION_REQUEST_INT"
        if is_int and self.receiving:
            self._ack(channel, sysid, compid, M.MAV_MISSION_DENIED)
            return
        item = self.items.get(msg.seq)
        if item is None:
            if is_int:
                channel.send(M.MAVLink_mission_count_message(
                    sysid, compid, self.items.count(), self.mission_type))
            self._ack(channel, sysid, compid, M.MAV_MISSION_INVALID_SEQUENCE)
            return
        if is_int:
            channel.send(item.to_mavlink_int(msg.seq, sysid, compid, self.mission_type))
        else:
            if not self._request_warning_sent:
                self._request_warning_sent = True
                self.send_text(M.MAV_SEVERITY_WARNING,
                               "got MISSION_REQUEST; use MISSION_REQUEST_INT!")
            channel.send(item.to_mavlink_float(msg.seq, sysid, compid, self.mission_type))

    def handle_clear_all(self, channel, msg) -> None:
        sysid, compid = msg.get_srcSystem(), msg.get_srcComponent()
        if not self._cancel_upload(channel, msg):
            return
        refusal = self.can_clear()
        if refusal:
            self._ack(channel, sysid, compid, M.MAV_MISSION_ERROR)
            return
        self.items.set_items([])
        self._ack(channel, sysid, compid, M.MAV_MISSION_ACCEPTED)
        self._completed()
