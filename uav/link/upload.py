"""Verified upload of a whole sortie: fence, then rally, then mission, each read back.

ArduPilot uploads are not atomic: the old list is cut to the new count as soon as MISSION_COUNT
arrives.  So when something fails midway, the error says exactly what each list on the vehicle
holds now (new and verified, untouched, or broken), reading the broken one back when possible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import LinkError, MissionTransferError, MissionUploadError, MissionVerifyError
from ..items import Mission, MissionItem, MissionType
from .connection import Link
from .mission_transfer import MissionTransfer, TransferResult, TransferSettings
from .verify import compare_items, verify_items

# progress(stage, done, total): stage is e.g. "fence upload", "mission read-back"
StageProgress = Callable[[str, int, int], None]

ORDER = (MissionType.FENCE, MissionType.RALLY, MissionType.MISSION)


@dataclass
class ListReport:
    """The outcome for one list (mission, fence or rally)."""

    mission_type: MissionType
    state: str  # "verified", "untouched", "skipped", "broken", "cleared"
    count: int = 0
    upload: TransferResult | None = None
    readback: TransferResult | None = None
    detail: str = ""
    attempts: int = 1
    retried_after: list[str] = field(default_factory=list)

    def describe(self) -> str:
        label = self.mission_type.label
        if self.state == "verified":
            return f"{label}: {self.count} items, new, verified"
        if self.state == "cleared":
            return f"{label}: cleared (empty), verified"
        if self.state == "untouched":
            return f"{label}: untouched (what was there before)"
        if self.state == "skipped":
            return f"{label}: not uploaded (skipped), what was there before"
        return f"{label}: {self.detail or 'broken'}"


@dataclass
class UploadReport:
    """What a verified upload put on the vehicle."""

    lists: dict[MissionType, ListReport] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        return "; ".join(self.lists[t].describe() for t in ORDER if t in self.lists)


def upload_list(transfer: MissionTransfer, items: list[MissionItem], mission_type: int,
                progress: StageProgress | None = None, attempts: int = 3) -> ListReport:
    """Upload one list and read it back; raise MissionUploadError/MissionVerifyError.

    A transfer broken by the link is tried again from the start, up to ``attempts`` times.
    """
    mtype = MissionType(mission_type)
    label = mtype.label

    def stage(name):
        if progress is None:
            return None
        return lambda done, total: progress(f"{label} {name}", done, total)

    if not items and mtype == MissionType.MISSION:
        raise MissionUploadError("the mission has no items (not even home); nothing to upload")
    retried_after: list[str] = []
    up = None
    for attempt in range(1, attempts + 1):
        try:
            if up is None:
                settle = 0.0 if attempt == 1 else max(0.5, 4 * (transfer.link.rtt_s or 0.0))
                up = transfer.upload(items, mtype, progress=stage("upload"), settle_s=settle) \
                    if items else transfer.clear(mtype)
            # A read-back the link broke is read again; the list is not sent again.
            back = transfer.download(mtype, progress=stage("read-back"))
            break
        except MissionTransferError as exc:
            # A transfer the link broke (timeouts, the vehicle cancelling) is started again
            # from the top; a refusal of the list itself is final.
            if not getattr(exc, "retryable", False) or attempt == attempts:
                if attempt > 1:
                    exc.args = (f"{exc.args[0]} (after {attempt} attempts)",)
                raise
            retried_after.append(str(exc))
            if progress is not None:
                what = "read-back" if up is not None else "upload"
                progress(f"{label} {what} retry {attempt + 1}/{attempts}", 0, 0)
    try:
        verify_items(items, back.items, mtype)
    except MissionVerifyError as exc:
        exc.held = len(back.items)
        if items and up.final_error:
            # the vehicle's own answer explains the difference better than the difference
            exc.args = (f"the vehicle answered the last {label} item with {up.final_error} "
                        f"and does not hold the list sent: {exc.args[0]}",)
        raise
    return ListReport(mtype, "verified" if items else "cleared", len(items), up, back,
                      attempts=attempt, retried_after=retried_after)


def upload_verified(link: Link, mission: Mission, *, fence: bool = True, rally: bool = True,
                    settings: TransferSettings | None = None,
                    progress: StageProgress | None = None, attempts: int = 3) -> UploadReport:
    """Put a sortie on the vehicle: fence, then rally, then mission, each read back and compared.

    Parameters
    ----------
    link : Link
        A connected link.
    mission : uav.items.Mission
        ``items[0]`` is home; ``fence`` and ``rally`` may be empty (an empty list clears the
        vehicle's one, so an old fence does not linger under a new mission).
    fence, rally : bool
        Set False to leave the vehicle's fence or rally points as they are.
    settings : TransferSettings, optional
        Protocol timeouts and retries.
    progress : callable, optional
        ``progress(stage, done, total)`` during each transfer.
    attempts : int
        How many times a list whose transfer the link broke is sent again from the start
        (ArduPilot has already cut the old list by then, so stopping half-way helps nobody).

    Returns
    -------
    UploadReport

    Raises
    ------
    MissionUploadError
        If any list failed to upload or verify.  The message and the exception's ``report``
        say what each list on the vehicle holds now.
    """
    # a vehicle busy with another ground station's transfer: say so where progress is shown
    notice = (lambda text: progress(text, 0, 0)) if progress is not None else None
    transfer = MissionTransfer(link, settings, on_notice=notice)
    report = UploadReport()
    started = time.monotonic()
    wanted = {MissionType.FENCE: fence, MissionType.RALLY: rally, MissionType.MISSION: True}
    for mtype in ORDER:
        report.lists[mtype] = ListReport(mtype, "untouched" if wanted[mtype] else "skipped")
    for i, mtype in enumerate(ORDER):
        if not wanted[mtype]:
            continue
        items = list(mission.of_type(mtype))
        try:
            report.lists[mtype] = upload_list(transfer, items, mtype, progress, attempts)
        except (MissionTransferError, LinkError, KeyboardInterrupt) as exc:
            # Whatever ends the upload, the last words say what each list now holds.
            if isinstance(exc, KeyboardInterrupt):
                transfer.cancel(mtype)
            report.lists[mtype] = _inspect_broken(transfer, mtype, items, exc)
            if report.lists[mtype].state in ("verified", "cleared") and \
                    not isinstance(exc, KeyboardInterrupt):
                continue  # it all arrived; only an answer or a read-back was lost
            report.seconds = time.monotonic() - started
            not_reached = [t.label for t in ORDER[i + 1:] if wanted[t]]
            tail = (f" Not attempted: {', '.join(not_reached)}." if not_reached else "")
            kind = MissionVerifyError if isinstance(exc, MissionVerifyError) else \
                MissionUploadError
            cause = ("stopped by Ctrl-C" if isinstance(exc, KeyboardInterrupt)
                     else f"failed: {exc}")
            err = kind(f"upload {cause}. On the vehicle now: {report.describe()}.{tail} "
                       "Do not fly this sortie until an upload succeeds.")
            err.report = report
            err.cause = exc
            for attr in ("differences", "seq", "field", "sent", "stored"):
                if hasattr(exc, attr):
                    setattr(err, attr, getattr(exc, attr))
            raise err from exc
    report.seconds = time.monotonic() - started
    return report


def _inspect_broken(transfer: MissionTransfer, mtype: MissionType,
                    items: list[MissionItem], exc: BaseException) -> ListReport:
    """Read a failed list back (best effort) so the user learns what the vehicle holds."""
    wanted = _count_words(mtype, len(items))
    if isinstance(exc, MissionVerifyError):
        held = getattr(exc, "held", len(items))
        if held == len(items):
            detail = f"uploaded but differs from the plan ({wanted})"
        else:
            detail = f"holds {_count_words(mtype, held)}, not the {wanted} sent"
        return ListReport(mtype, "broken", held, detail=detail)
    try:
        back = transfer.download(mtype)
    except (MissionTransferError, LinkError, KeyboardInterrupt):
        why = ("the link is lost" if isinstance(exc, LinkError) else
               "stopped by Ctrl-C" if isinstance(exc, KeyboardInterrupt) else
               "the vehicle did not answer")
        return ListReport(mtype, "broken", detail=f"unknown - could not read it back ({why}); "
                          "it may hold a partial or empty list")
    n = len(back.items)
    if not compare_items(items, back.items, mtype):
        # everything arrived (the failure came after: a lost ack, a broken read-back)
        return ListReport(mtype, "verified" if items else "cleared", n, readback=back)
    if n == len(items):
        detail = f"holds {_count_words(mtype, n)} but they differ from the plan"
    else:
        detail = f"holds {_count_words(mtype, n, of=len(items))} sent - incomplete"
    return ListReport(mtype, "broken", n, readback=back, detail=detail)


def _count_words(mtype: MissionType, n: int, of: int | None = None) -> str:
    """``12 of the 100 mission items (plus home)``: a mission's item 0 is home, counted apart."""
    if mtype == MissionType.MISSION:
        items = max(n - 1, 0)
        if of is None:
            return f"{items} mission items (plus home)" if n else "nothing"
        return f"{items} of the {max(of - 1, 0)} mission items (plus home)"
    if of is None:
        return f"{n} {mtype.label} items"
    return f"{n} of the {of} {mtype.label} items"
