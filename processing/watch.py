"""Watch a folder: process frames as they arrive (a card reader, a live downlink)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace

from uav.errors import UavError

from .pipeline import process_frames
from .progress import Progress
from .request import ProcessRequest
from .tasks import MAX_LISTED, Summary

# Classes a watch prints the moment a frame flags them, before its batch is grouped into
# sightings (people and vehicles move on; a fire waits for the sighting line).
URGENT_CLASSES = ("person", "vehicle")
# With --register the flight is registered again once it has grown by this much since it last
# was, and when the watch stops: the solve is of the whole flight (about 75 s by 1,200 frames),
# and after every batch it would hold up the next frames' alerts.  Growing by a quarter each
# time, all the solves of a flight together cost about five times the last one.
REGISTER_GROWTH = 1.25


def watch_folder(folder, out_gpkg, request: ProcessRequest | None = None, *,
                 poll_s: float = 2.0, settle_s: float = 1.0,
                 stop: Callable[[], bool] | None = None, echo: Callable[[str], None] = print,
                 flag_lines: bool = True, on_flag: Callable | None = None,
                 progress: bool | Progress = False, mosaic=None, **options) -> Summary:
    """Keep processing frames as they arrive in ``folder`` (a card reader, a live downlink).

    A file is taken once its size has not changed for ``settle_s`` seconds (still being
    copied otherwise).  Each new flag is printed at once through ``echo``.  Runs until
    ``stop()`` returns True (or Ctrl-C).  ``request`` (or its fields as keyword options) is
    what each batch is processed with, as in :func:`process_frames`; a :class:`Progress` given as
    ``progress`` counts every batch into one (frames done and failed, frames/s, workers).
    After each batch a sighting is announced once when it first appears and again only when its
    confidence changes materially; ``flag_lines=False`` drops the line per flag, except an
    ``ALERT`` line for a person or vehicle (:data:`URGENT_CLASSES`), printed as its frame is done.
    A :class:`~processing.orthomosaic.GrowingMosaic` given as ``mosaic`` is grown after each
    batch and written once more when the watch stops.
    """
    from .frames import is_frame_file


    request = ProcessRequest.from_options(request, options)
    total = Summary(out=str(out_gpkg))
    done_before = _frames_done(out_gpkg)
    registered_at = 0    # frames done when the flight was last registered
    user_on_flag = on_flag

    def on_flag_line(flag, frame):
        where = (f"{flag.lat:.6f}, {flag.lon:.6f}" if flag.lat is not None
                 else f"no position ({flag.position_note})")
        if flag_lines:
            echo(f"FLAG {flag.cls} {flag.score:.2f} at {where} in {frame.name}")
        elif flag.cls in URGENT_CLASSES:   # rangers act during the flight: not after the batch
            echo(f"ALERT {flag.cls} {flag.score:.2f} at {where} in {frame.name}")
        if user_on_flag:
            user_on_flag(flag, frame)

    sizes: dict[str, tuple[int, float]] = {}
    t0 = time.perf_counter()
    try:
        while True:
            ready = []
            now = time.monotonic()
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if not entry.is_file() or not is_frame_file(entry.name):
                    continue
                size = entry.stat().st_size
                prev = sizes.get(entry.path)
                if prev is None or prev[0] != size:
                    sizes[entry.path] = (size, now)
                elif now - prev[1] >= settle_s:
                    ready.append(entry.path)
            if ready:
                expected = done_before + total.done + len(ready)
                due = request.register and (not registered_at or expected >= REGISTER_GROWTH * registered_at)
                s = process_frames(ready, out_gpkg, request if due or not request.register
                                   else replace(request, register=False), on_flag=on_flag_line, progress=progress)
                if s.registration is not None:
                    registered_at = done_before + total.done + s.done
                    total.registration = s.registration
                    echo(str(s.registration))
                for alert in (s.sightings.alerts if s.sightings is not None else ()):
                    echo(str(alert))
                total.sightings = s.sightings
                total.frames += s.frames - s.skipped
                total.done += s.done
                total.no_pose += s.no_pose
                total.failed += s.failed
                total.failures += s.failures[:max(0, MAX_LISTED - len(total.failures))]
                total.yaw_fixed += s.yaw_fixed
                total.yaw_fixes += s.yaw_fixes[:max(0, MAX_LISTED - len(total.yaw_fixes))]
                for k, v in s.flags_by_class.items():
                    total.flags_by_class[k] = total.flags_by_class.get(k, 0) + v
                for p in ready:
                    sizes[p] = (sizes[p][0], float("inf"))  # never re-check a finished file
                mosaic = _grow(mosaic, echo)
            if stop is not None and stop():
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    if request.register and done_before + total.done > registered_at:
        # the frames since the last registration: the flight ends as if registered at once
        s = process_frames([], out_gpkg, request, progress=False)
        if s.registration is not None:
            total.sightings = s.sightings or total.sightings
            total.registration = s.registration
            echo(str(s.registration))
    _grow(mosaic, echo, last=True)
    total.elapsed_s = time.perf_counter() - t0
    return total


def _frames_done(gpkg) -> int:
    """Frames already done in ``gpkg`` (a watch resumed on a flight): 0 for a new one."""
    if not os.path.exists(gpkg):
        return 0
    from .store import FlightStore

    with FlightStore.open(gpkg) as store:
        return len(store.frames("done"))


def _say_mosaic(result, echo) -> None:
    for line in str(result or "").splitlines():
        echo(f"mosaic: {line.strip()}")


def _grow(mosaic, echo, last: bool = False):
    """Grow the mosaic by the batch just done (``last``: write what is not on disk yet); a
    mosaic that cannot go on is said once and dropped, and the watch goes on finding things
    (the flags matter more than the picture)."""
    if mosaic is None:
        return None
    try:
        _say_mosaic(mosaic.finish() if last else mosaic.update(), echo)
        return mosaic
    except UavError as exc:
        echo(f"mosaic stopped: {exc}; the frames are still searched (`uav mosaic` draws it afterwards)")
        return None


__all__ = ["URGENT_CLASSES", "watch_folder"]
