"""MAVLink mission protocol: upload, download and clear of mission, fence and rally lists.

The vehicle drives an upload: we send MISSION_COUNT, it asks for each item (ArduPilot with plain
MISSION_REQUEST, others with MISSION_REQUEST_INT) and we answer every request with the
MISSION_ITEM_INT it names, however often and in whatever order it asks, until it sends
MISSION_ACK.  We drive a download: MISSION_REQUEST_LIST, MISSION_COUNT, then one
MISSION_REQUEST_INT per item, then our MISSION_ACK.

Timeouts and retries follow the protocol's recommendation: 1500 ms for a transfer step, 250 ms
per item on download, 5 retries.  A lost item request on download is harmless to repeat (a read
changes nothing on the vehicle), so after its 5 quick retries a download item gets 5 more at the
long timeout before the transfer is declared dead; this keeps a 20 %-loss radio link usable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import MissionDownloadError, MissionTransferError, MissionUploadError
from ..items import Frame, MissionItem, MissionType
from .connection import Link

Progress = Callable[[int, int], None]

# Frames whose x/y are latitude/longitude (sent as degrees * 1e7 in MISSION_ITEM_INT).
GLOBAL_FRAMES = frozenset(int(f) for f in (
    Frame.GLOBAL, Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_TERRAIN_ALT, Frame.GLOBAL_INT,
    Frame.GLOBAL_RELATIVE_ALT_INT, Frame.GLOBAL_TERRAIN_ALT_INT))


def _retryable(exc: Exception) -> Exception:
    """Mark a failure the link caused (not the vehicle refusing the list): worth a retry."""
    exc.retryable = True
    return exc


def result_name(code: int) -> str:
    """``MAV_MISSION_NO_SPACE`` for 4; the number for unknown results."""
    entry = mavlink.enums["MAV_MISSION_RESULT"].get(int(code))
    return entry.name if entry is not None else f"MAV_MISSION_RESULT {int(code)}"


_RESULT_HINTS = {
    mavlink.MAV_MISSION_NO_SPACE: "the vehicle has no room for that many items",
    mavlink.MAV_MISSION_UNSUPPORTED: "the vehicle does not support a command in the list",
    mavlink.MAV_MISSION_UNSUPPORTED_FRAME: "the vehicle does not support a coordinate frame used",
    mavlink.MAV_MISSION_DENIED: "the vehicle refused (armed and flying? another transfer running?)",
    mavlink.MAV_MISSION_INVALID: "an item's parameters are invalid",
    mavlink.MAV_MISSION_OPERATION_CANCELLED: "the vehicle cancelled the transfer",
}


@dataclass
class TransferSettings:
    """Protocol timing.  Defaults are the MAVLink mission protocol's recommendation."""

    timeout_s: float = 1.5
    item_timeout_s: float = 0.25
    retries: int = 5
    # Download item requests wait min(item_timeout_s, 4 x the measured round trip) but at
    # least this: on a fast link a lost request is repeated in milliseconds, on a radio
    # link (round trips of 50-100 ms) the protocol's 250 ms applies.
    min_item_timeout_s: float = 0.01
    # Upload to ArduPilot: offer a late-requested item again (and the next) after 4 x the
    # measured round trip, at most this many times per item, before the protocol's waits.
    eager_resend: bool = True
    eager_resends_per_item: int = 5
    # Downloads: item requests kept in flight at once.  ArduPilot answers each request on its
    # own, so a window hides the round trip (a 100 ms radio: 500 items in ~7 s, not 50 s);
    # 16 read 100 items over a SiK-shaped 57.6 kbaud radio in 5.8-8.3 s against 8.1-11.6 s
    # for 8 (python -m benchmarks.radio_upload).
    download_window: int = 16
    # A vehicle busy with another ground station's transfer answers MAV_MISSION_DENIED.
    # ArduPilot drops a transfer whose ground station went quiet after 8 s (its
    # MissionItemProtocol upload timeout): ask again every second for this long.
    busy_wait_s: float = 10.0
    # A radio fade (nothing at all heard from the vehicle, not even its heartbeat) does not
    # use up retries: the transfer keeps offering at the long timeout for this long, then
    # carries on where it was once the vehicle is heard again (ArduPilot itself keeps an
    # upload open for 8 s of silence).
    fade_s: float = 15.0


@dataclass
class TransferResult:
    """What one transfer did."""

    mission_type: MissionType
    count: int
    opaque_id: int = 0
    seconds: float = 0.0
    resends: int = 0
    nonfatal_acks: int = 0
    items: list[MissionItem] = field(default_factory=list)
    # An error ack that ended the upload after our last item (the read-back decides whether
    # the vehicle kept the list), with the vehicle's STATUSTEXT lines, for the report.
    final_error: str = ""
    # How long the vehicle was busy with another ground station's transfer before this one.
    busy_waited_s: float = 0.0


def encode_item(link: Link, item: MissionItem, seq: int, mission_type: int):
    """The MISSION_ITEM_INT message for ``item`` at ``seq``."""
    if int(item.frame) in GLOBAL_FRAMES:
        x, y = int(round(item.lat * 1e7)), int(round(item.lon * 1e7))
    else:
        x, y = int(round(item.lat)), int(round(item.lon))
    return link.mav.mission_item_int_encode(
        link.target_system, link.target_component, seq, int(item.frame), int(item.command),
        0, int(bool(item.autocontinue)), float(item.param1), float(item.param2),
        float(item.param3), float(item.param4), x, y, float(item.alt), int(mission_type))


def decode_item(msg) -> MissionItem:
    """A MissionItem from MISSION_ITEM_INT or MISSION_ITEM."""
    if msg.get_type() == "MISSION_ITEM_INT":
        if msg.frame in GLOBAL_FRAMES:
            lat, lon = msg.x / 1e7, msg.y / 1e7
        else:
            lat, lon = float(msg.x), float(msg.y)
    else:
        lat, lon = float(msg.x), float(msg.y)
    return MissionItem(
        command=int(msg.command), frame=int(msg.frame), param1=float(msg.param1),
        param2=float(msg.param2), param3=float(msg.param3), param4=float(msg.param4),
        lat=lat, lon=lon, alt=float(msg.z), autocontinue=bool(msg.autocontinue),
        mission_type=int(getattr(msg, "mission_type", 0)))


class MissionTransfer:
    """Upload, download and clear one vehicle's mission, fence and rally lists.

    Parameters
    ----------
    link : Link
        A connected link.
    settings : TransferSettings, optional
        Timeouts and retries.
    """

    def __init__(self, link: Link, settings: TransferSettings | None = None,
                 on_notice: Callable[[str], None] | None = None):
        self.link = link
        self.settings = settings or TransferSettings()
        # told, in a ranger's words, when the transfer has to wait (a busy vehicle)
        self.on_notice = on_notice

    def _wait_while_busy(self, busy_since: float | None, label: str, error) -> float:
        """The vehicle answered DENIED: another ground station's transfer is running.
        Wait a second (telling the user the first time); give up after ``busy_wait_s``."""
        now = time.monotonic()
        if busy_since is None:
            busy_since = now
            if self.on_notice is not None:
                self.on_notice(
                    f"the vehicle is busy with another ground station's transfer (it answered "
                    f"MAV_MISSION_DENIED); waiting up to {self.settings.busy_wait_s:.0f} s for "
                    "ArduPilot to drop it (its own timeout is 8 s), then trying again")
        elif now - busy_since > self.settings.busy_wait_s:
            raise _retryable(error(
                f"{label} transfer refused: the vehicle stayed busy with another ground "
                f"station's transfer for {now - busy_since:.0f} s (MAV_MISSION_DENIED). Close "
                "the other ground station's upload or download (QGroundControl, MAVProxy) and "
                "try again"))
        time.sleep(1.0)
        return busy_since

    # --- helpers ------------------------------------------------------------------------
    def _for_us(self, msg, mission_type: int) -> bool:
        if int(getattr(msg, "mission_type", 0)) != int(mission_type):
            return False
        target = getattr(msg, "target_system", 0)
        return target in (0, self.link.mav.srcSystem)

    def _in_fade(self, doing: str) -> bool:
        """True while nothing at all has been heard from the vehicle for a long timeout (a
        radio fade: waits then cost no retries); raise once the fade outlasts ``fade_s``."""
        quiet = self.link.quiet_for()
        if quiet < self.settings.timeout_s:
            return False
        if quiet >= self.settings.fade_s:
            raise _retryable(MissionTransferError(
                f"{doing}: nothing heard from the vehicle for {quiet:.0f} s (not even "
                "its heartbeat): the radio link is gone"))
        return True

    def _quick_timeout(self, rtt: float | None, attempt: int) -> float:
        """Wait for attempt ``attempt`` (1-based) of a request: 4 x the round trip, growing by half
        with each attempt (a busy vehicle is not flooded), never above the protocol's 250 ms."""
        s = self.settings
        if rtt is None:
            return s.item_timeout_s
        base = max(s.min_item_timeout_s, 4 * rtt)
        return min(s.item_timeout_s, base * 1.5 ** (attempt - 1))

    def _ask_until(self, send, types, condition, what: str, error):
        """Send (via ``send()``) and wait for an answer; repeat 5 times quickly and 5 times
        at the long timeout.  For idempotent requests only (request list, clear)."""
        s = self.settings
        schedule = [self._quick_timeout(self.link.rtt_s, a) for a in range(1, s.retries + 2)]
        schedule += [s.timeout_s] * s.retries
        i = 0
        while i < len(schedule):
            send()
            msg = self.link.poll(types, schedule[i], condition=condition)
            if msg is not None:
                return msg
            if not self._in_fade(f"waiting for {what}"):
                i += 1
        raise _retryable(error(f"waited {sum(schedule):.1f} s ({len(schedule)} requests) for "
                               f"{what}{self.link.silence_hint()}"))

    def _ack(self, mission_type: int, result: int = mavlink.MAV_MISSION_ACCEPTED,
             opaque_id: int = 0) -> None:
        msg = self.link.mav.mission_ack_encode(self.link.target_system,
                                               self.link.target_component, result,
                                               int(mission_type))
        if opaque_id and hasattr(msg, "opaque_id"):
            msg.opaque_id = opaque_id  # newer dialects carry it; older ones drop it
        self.link.send(msg)

    # --- upload -------------------------------------------------------------------------
    def upload(self, items: Sequence[MissionItem], mission_type: int = MissionType.MISSION,
               progress: Progress | None = None, settle_s: float = 0.0) -> TransferResult:
        """Write ``items`` to the vehicle as its ``mission_type`` list.

        For a mission, ``items[0]`` is home (ArduPilot's seq 0).  This is the bare protocol:
        use :func:`uav.link.upload.upload_verified` to also read back and compare.
        ``settle_s``: first let the answers to an abandoned attempt arrive and drop them (on
        a radio they are still in the air when the list is started again).

        Raises
        ------
        MissionUploadError
            On an error ack (named by its MAV_MISSION_RESULT) or when the vehicle stops asking.
        """
        mtype = MissionType(mission_type)
        items = list(items)
        count = len(items)
        s = self.settings
        link = self.link
        started = time.monotonic()
        result = TransferResult(mtype, count)
        encoded = [encode_item(link, it, seq, mtype) for seq, it in enumerate(items)]
        link.drain()  # stale requests/acks from an earlier transfer must not steer this one
        if settle_s > 0:
            settle_end = time.monotonic() + settle_s
            while time.monotonic() < settle_end:
                link.poll(("MISSION_ACK", "MISSION_REQUEST", "MISSION_REQUEST_INT"),
                          settle_end - time.monotonic())
        count_msg = link.mav.mission_count_encode(link.target_system, link.target_component,
                                                  count, int(mtype))
        link.send(count_msg)
        last_sent, last_seq = count_msg, -1
        sent_last_item = count == 0
        requested: set[int] = set()
        highest = -1
        failures = 0
        stale_errors = 0
        busy_since = None
        label = mtype.label
        # ArduPilot re-asks for a lost item only after ~1 s and answers an unexpected seq with
        # a non-fatal INVALID_SEQUENCE, so when a request is late we offer the last item again
        # and the next one: whichever of the two was lost, the vehicle takes the one it wants.
        eager = s.eager_resend and link.vehicle is not None and link.vehicle.is_ardupilot
        rtt = link.rtt_s
        sent_at = started
        eager_left = s.eager_resends_per_item
        while True:
            wait = s.timeout_s
            if eager and eager_left > 0 and rtt is not None:
                wait = self._quick_timeout(rtt, s.eager_resends_per_item - eager_left + 1)
            msg = link.poll(("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"),
                            max(wait - (time.monotonic() - sent_at), 0.0),
                            condition=lambda m: self._for_us(m, mtype))
            if msg is None and wait < s.timeout_s:
                eager_left -= 1
                link.send(last_sent)  # MISSION_COUNT again restarts a transfer not yet begun
                if 0 <= last_seq and last_seq + 1 < count:
                    link.send(encoded[last_seq + 1])
                    sent_last_item = sent_last_item or last_seq + 2 == count
                result.resends += 1
                sent_at = time.monotonic()
                continue
            if msg is None:
                if self._in_fade(f"{label} upload"):
                    # nothing heard at all: not a failure to count; one frame, not the
                    # eager pair, so fewer stale answers follow the fade
                    link.send(last_sent)
                    result.resends += 1
                    sent_at = time.monotonic()
                    continue
                failures += 1
                if failures > s.retries:
                    waited = (f"a request for {label} item {highest + 1} of {count}"
                              if highest >= 0 else f"the vehicle to start the {label} upload "
                              f"(answer to MISSION_COUNT {count})")
                    raise _retryable(MissionUploadError(
                        f"{label} upload stopped at item {max(highest, 0)} of {count}: waited "
                        f"{s.timeout_s:.1f} s x {s.retries + 1} for {waited}; the vehicle's "
                        f"{label} list is now incomplete or empty{link.silence_hint()}"))
                link.send(last_sent)
                result.resends += 1
                sent_at = time.monotonic()
                continue
            mname = msg.get_type()
            if mname == "MISSION_ACK":
                code = msg.type
                if code == mavlink.MAV_MISSION_ACCEPTED:
                    if not sent_last_item:
                        continue  # an ack from an earlier transfer, not for this one
                    result.opaque_id = int(getattr(msg, "opaque_id", 0) or 0)
                    break
                if code == mavlink.MAV_MISSION_INVALID_SEQUENCE:
                    result.nonfatal_acks += 1  # ArduPilot: wrong/duplicate seq, goes on
                    continue
                if code == mavlink.MAV_MISSION_DENIED and highest < 0:
                    # another ground station's transfer is running: wait it out, ask again
                    busy_since = self._wait_while_busy(busy_since, label, MissionUploadError)
                    result.busy_waited_s = time.monotonic() - busy_since
                    link.send(count_msg)
                    sent_at = time.monotonic()
                    failures = 0
                    continue
                if code == mavlink.MAV_MISSION_ERROR and sent_last_item and count:
                    # No transfer running any more after our last item: either the vehicle
                    # took it and its ACCEPTED was lost, or it refused the finished list
                    # (ArduPilot: an invalid fence).  The read-back decides.
                    texts = "; ".join(link.recent_statustext(started))
                    result.final_error = result_name(code) + (
                        f" (vehicle says: {texts})" if texts else "")
                    break
                if code == mavlink.MAV_MISSION_ERROR and highest < 0 and stale_errors < 3:
                    # Likely the vehicle's answer to an item resent during an earlier attempt
                    # (a fade), arriving late; the vehicle's requests will tell, or the
                    # timeout sends MISSION_COUNT again.
                    stale_errors += 1
                    continue
                hint = _RESULT_HINTS.get(code, "")
                texts = "; ".join(link.recent_statustext(started))
                err = MissionUploadError(
                    f"the vehicle refused the {label} upload ({count} items) after item "
                    f"{max(highest, 0)}: {result_name(code)}"
                    + (f" - {hint}" if hint else "") + (f" (vehicle says: {texts})" if texts
                                                         else ""))
                # The vehicle gave up on a broken transfer (cancelled, or no transfer running
                # any more): trying again can succeed.  A refusal of the list itself cannot.
                if code in (mavlink.MAV_MISSION_OPERATION_CANCELLED, mavlink.MAV_MISSION_ERROR):
                    _retryable(err)
                raise err
            seq = int(msg.seq)
            if seq < 0 or seq >= count:
                raise MissionUploadError(
                    f"the vehicle asked for {label} item {seq} but only {count} were offered")
            failures = 0
            now = time.monotonic()
            if seq == last_seq + 1 and last_seq >= 0:
                took = now - sent_at
                rtt = took if rtt is None else 0.8 * rtt + 0.2 * took
            if seq != last_seq:
                eager_left = s.eager_resends_per_item
            item_msg = encoded[seq]
            link.send(item_msg)
            last_sent, last_seq, sent_at = item_msg, seq, now
            if seq == count - 1:
                sent_last_item = True
            if seq not in requested:
                requested.add(seq)
                highest = max(highest, seq)
                if progress is not None:
                    progress(len(requested), count)
        result.seconds = time.monotonic() - started
        result.items = items
        return result

    # --- download -----------------------------------------------------------------------
    def download(self, mission_type: int = MissionType.MISSION,
                 progress: Progress | None = None) -> TransferResult:
        """Read the vehicle's ``mission_type`` list.  A mission's item 0 is the vehicle's home.

        Raises
        ------
        MissionDownloadError
            When the vehicle stops answering; the message names the item waited for.
        """
        mtype = MissionType(mission_type)
        s = self.settings
        link = self.link
        label = mtype.label
        started = time.monotonic()
        link.drain()
        def stray_ack(m) -> bool:
            # acks left over from an upload are not an answer to MISSION_REQUEST_LIST, nor is
            # the OPERATION_CANCELLED ArduPilot sends when it drops another ground station's
            # abandoned upload (8 s after it went quiet) on the port we now hold
            return m.get_type() == "MISSION_ACK" and m.type in (
                mavlink.MAV_MISSION_ACCEPTED, mavlink.MAV_MISSION_INVALID_SEQUENCE,
                mavlink.MAV_MISSION_ERROR, mavlink.MAV_MISSION_OPERATION_CANCELLED)

        busy_since = None
        while True:
            msg = self._ask_until(
                lambda: link.mav.mission_request_list_send(link.target_system,
                                                           link.target_component, int(mtype)),
                ("MISSION_COUNT", "MISSION_ACK"),
                lambda m: self._for_us(m, mtype) and not stray_ack(m),
                f"the vehicle to say how many {label} items it holds (MISSION_COUNT)",
                lambda text: MissionDownloadError(f"{label} download failed: {text}"))
            if msg.get_type() == "MISSION_ACK" and msg.type == mavlink.MAV_MISSION_DENIED:
                busy_since = self._wait_while_busy(busy_since, label, MissionDownloadError)
                continue
            break
        if msg.get_type() == "MISSION_ACK":
            raise MissionDownloadError(
                f"the vehicle refused to send its {label} list: {result_name(msg.type)}")
        count = int(msg.count)
        opaque_id = int(getattr(msg, "opaque_id", 0) or 0)
        result = TransferResult(mtype, count, opaque_id=opaque_id)
        if busy_since is not None:
            result.busy_waited_s = time.monotonic() - busy_since
        got: dict[int, MissionItem] = {}
        # seq -> (deadline, attempts, asked_at) for requests not yet answered
        pending: dict[int, tuple[float, int, float]] = {}
        rtt = link.rtt_s
        next_seq = 0
        limit = 2 * s.retries + 1  # 5 quick retries as the protocol recommends, 5 long ones
        window = max(1, int(s.download_window))

        def timeout_for(attempt: int) -> float:
            if attempt > s.retries + 1:
                return s.timeout_s
            if rtt is None:
                return s.item_timeout_s
            # rtt here is measured on windowed requests, so it includes their queueing on a
            # slow radio: 4 x that, not the protocol's 250 ms cap, or a 19.2 kbaud link would
            # ask again for items still on their way and choke on the repeats
            return min(s.timeout_s, max(s.min_item_timeout_s, 4 * rtt) * 1.5 ** (attempt - 1))

        def ask(seq: int, attempt: int, wait: float | None = None) -> None:
            now = time.monotonic()
            link.mav.mission_request_int_send(link.target_system, link.target_component,
                                              seq, int(mtype))
            pending[seq] = (now + (wait or timeout_for(attempt)), attempt, now)

        while len(got) < count:
            if next_seq < count and len(pending) <= window // 2:
                with link.batch():  # refill the window in one write
                    while next_seq < count and len(pending) < window:
                        if next_seq not in got:
                            ask(next_seq, 1)
                        next_seq += 1
            first_due = min(pending.values())[0] if pending else time.monotonic()
            # Only the _INT answer: a float MISSION_ITEM (someone else's request on a shared
            # link) would lose centimetres of position.
            msg = link.poll("MISSION_ITEM_INT", max(first_due - time.monotonic(), 0.0),
                            condition=lambda m: self._for_us(m, mtype) and 0 <= m.seq < count)
            now = time.monotonic()
            if msg is not None:
                seq = int(msg.seq)
                if seq not in got:
                    got[seq] = decode_item(msg)
                    if seq in pending:
                        _due, attempt, asked = pending.pop(seq)
                        if attempt == 1:
                            took = now - asked
                            rtt = took if rtt is None else 0.8 * rtt + 0.2 * took
                    if progress is not None:
                        progress(len(got), count)
                continue
            fading = self._in_fade(f"{label} download")
            for seq, (due, attempt, _asked) in sorted(pending.items()):
                if due > now:
                    continue
                if fading:  # nothing heard at all: ask again without using up an attempt
                    ask(seq, attempt, s.timeout_s)
                    continue
                if attempt >= limit:
                    waited = (s.retries + 1) * s.item_timeout_s + s.retries * s.timeout_s
                    raise _retryable(MissionDownloadError(
                        f"{label} download stopped at item {seq} of {count}: waited up to "
                        f"{waited:.1f} s ({attempt} requests) for item {seq}"))
                result.resends += 1
                ask(seq, attempt + 1)
        items = [got[i] for i in range(count)]
        self._ack(mtype, opaque_id=opaque_id)
        result.items = items
        result.seconds = time.monotonic() - started
        return result

    def cancel(self, mission_type: int = MissionType.MISSION) -> None:
        """Tell the vehicle we abandon a transfer (an upload stopped by the user), so it stops
        waiting for items instead of holding the list busy for its 8 s timeout."""
        try:
            self._ack(mission_type, mavlink.MAV_MISSION_OPERATION_CANCELLED)
        except Exception:  # noqa: BLE001 - best effort: the read-back tells what it holds
            pass

    # --- count --------------------------------------------------------------------------
    def count(self, mission_type: int = MissionType.MISSION) -> int:
        """How many items the vehicle holds in its ``mission_type`` list (a mission counts home).

        Raises
        ------
        MissionDownloadError
            When the vehicle does not say.
        """
        mtype = MissionType(mission_type)
        link = self.link
        link.drain()
        msg = self._ask_until(
            lambda: link.mav.mission_request_list_send(link.target_system,
                                                       link.target_component, int(mtype)),
            "MISSION_COUNT", lambda m: self._for_us(m, mtype),
            f"the vehicle to say how many {mtype.label} items it holds (MISSION_COUNT)",
            MissionDownloadError)
        self._ack(mtype)  # we want no items: end the download here
        return int(msg.count)

    # --- clear --------------------------------------------------------------------------
    def clear(self, mission_type: int = MissionType.MISSION) -> TransferResult:
        """Remove the vehicle's ``mission_type`` list (a mission keeps its home)."""
        mtype = MissionType(mission_type)
        link = self.link
        started = time.monotonic()
        link.drain()

        def answer(m) -> bool:
            # INVALID_SEQUENCE and ERROR are leftovers of an upload's duplicated items
            return self._for_us(m, mtype) and m.type not in (
                mavlink.MAV_MISSION_INVALID_SEQUENCE, mavlink.MAV_MISSION_ERROR,
                mavlink.MAV_MISSION_OPERATION_CANCELLED)

        busy_since = None
        while True:
            msg = self._ask_until(
                lambda: link.mav.mission_clear_all_send(link.target_system,
                                                        link.target_component, int(mtype)),
                "MISSION_ACK", answer, f"the vehicle to confirm clearing its {mtype.label} "
                "list (MISSION_ACK)", lambda text: MissionTransferError(
                    f"clearing the {mtype.label} list failed: {text}"))
            if msg.type != mavlink.MAV_MISSION_DENIED:
                break
            busy_since = self._wait_while_busy(busy_since, mtype.label, MissionTransferError)
        if msg.type != mavlink.MAV_MISSION_ACCEPTED:
            raise MissionTransferError(
                f"the vehicle refused to clear its {mtype.label} list: {result_name(msg.type)}")
        return TransferResult(mtype, 0, opaque_id=int(getattr(msg, "opaque_id", 0) or 0),
                              seconds=time.monotonic() - started)
