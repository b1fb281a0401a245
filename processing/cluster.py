"""Processing on a Dask cluster: a cluster checked before the first frame is sent, frames
handed out a few at a time, and a run that says what it did when the cluster fails it.

A PC at HQ running ``dask worker`` usually does not see the analyst's card reader: which
frames then travel as bytes, and to which worker, is :mod:`.shipping`.  Bytes stay in the
worker's memory (never its disk); the worker hashes what it was sent, so the SHA-256 stored is
the original file's.  At most ``2 x threads`` tasks are in flight, so at most that many frames'
bytes are held anywhere.  A worker that dies holding a frame's bytes: the frame is sent again to
another.  A ``--dem`` that some worker cannot read travels once (:func:`send_dem`).

Before the first frame: :func:`ready_cluster` waits for a worker (saying so) and refuses one
that runs another version of amur-uav, naming both.  The scheduler lost mid-run:
:class:`SchedulerLost`, with how many frames came back.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import replace

from uav.errors import FrameError, LinkError

from .shipping import Shipping, _RefFeatures, _Router, _with_bytes
from .tasks import FrameOutcome, FrameTask
from .worker import limit_threads, process_frame, reference_features

__all__ = ["DEM_SEND_LIMIT_MB", "SchedulerLost", "Shipping", "installed_version", "ready_cluster",
           "run_dask", "send_dem"]

# A DEM bigger than this is not sent to workers that cannot read it: cropped to the park's
# sectors it is far smaller (a 2,600 km2 park at 30 m is about 12 MB of float32).
DEM_SEND_LIMIT_MB = 256


class SchedulerLost(LinkError):
    """The Dask scheduler went away mid-run; ``done`` outcomes had come back (and were written)."""

    def __init__(self, message: str, done: int):
        super().__init__(message)
        self.done = done


def installed_version() -> str:
    """amur-uav's version as installed here (what ``pip install amur-uav==`` takes)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amur-uav")
    except PackageNotFoundError:  # a checkout run without installing it
        import uav

        return uav.__version__


def ready_cluster(client, address: str, wait_s: float, echo: Callable[[str], None] = print) -> int:
    """Wait up to ``wait_s`` for a worker, then check every worker runs this amur-uav.

    Returns the number of workers.  Raises :class:`LinkError` naming the address when none
    came, or naming the worker and both versions when one differs.
    """
    if not client.nthreads():
        echo(f"waiting for a Dask worker at {address} (up to {wait_s:g} s; start one on each PC "
             f"with `dask worker {address}`) ...")
        try:
            client.wait_for_workers(1, timeout=wait_s)
        except TimeoutError:
            raise LinkError(f"no Dask worker joined the scheduler at {address} within {wait_s:g} s; "
                            f"nothing was processed. Start one on each PC with `dask worker {address}` "
                            f"(amur-uav installed there), give more time with --dask-timeout, or "
                            f"leave out --dask to use this computer's cores") from None
    from importlib.metadata import version

    ours = installed_version()
    # asked through the standard library only, so a worker with an old amur-uav (or none)
    # still answers instead of failing to unpickle a function of ours
    versions = client.run(version, "amur-uav", on_error="return")
    bad = {w: (v if isinstance(v, str) else "not installed") for w, v in versions.items()
           if not (isinstance(v, str) and v == ours)}
    if bad:
        lines = "; ".join(f"{w} runs amur-uav {v}" for w, v in sorted(bad.items()))
        raise LinkError(f"Dask worker(s) at {address} run another version of amur-uav than this "
                        f"computer ({ours}): {lines}. Install amur-uav {ours} there "
                        f"(pip install amur-uav=={ours}, or the same checkout) and restart "
                        f"`dask worker`; nothing was processed")
    return len(versions)


def send_dem(client, dem: str) -> tuple[str | None, int, int]:
    """Put ``dem`` in every worker's memory if any worker cannot read its path.

    Returns (the token tasks name it by, or None when every worker reads the path itself;
    bytes sent; workers that could not read it).  Raises :class:`LinkError` for a DEM too big
    to send, saying what to do instead.
    """
    import hashlib
    import os

    seen = client.run(os.path.exists, os.path.abspath(dem), on_error="return")
    blind = sum(1 for v in seen.values() if v is not True)
    if not blind:
        return None, 0, 0
    size = os.path.getsize(dem)
    if size > DEM_SEND_LIMIT_MB * 1e6:
        raise LinkError(f"{blind} Dask worker(s) cannot read the DEM {dem} and it is too big to send "
                        f"them ({size / 1e6:.0f} MB; at most {DEM_SEND_LIMIT_MB} MB): put it at the same "
                        f"path on each worker PC (a shared folder), or crop it to the flight's area "
                        f"(gdal_translate -projwin ...); nothing was processed")
    with open(dem, "rb") as fh:
        data = fh.read()
    from .sent_dem import TOKEN_PREFIX, SentDem

    token = f"{TOKEN_PREFIX}{hashlib.sha256(data).hexdigest()[:16]}"
    client.register_plugin(SentDem(token, data), name=token)
    return token, len(data), blind


def _frame_on_worker(task: FrameTask) -> FrameOutcome:
    # `dask worker --nthreads 1` gives one thread to the tasks, but OpenCV would still use every
    # core of the PC for each frame: with a worker per core they fought (measured: a lone
    # worker took 1.06 cores). Cheap to repeat; set in the thread that runs the frame.
    limit_threads()
    if task.dem:
        # distributed is loaded on a worker already: the import costs nothing here
        from .sent_dem import SENT_DEMS, TOKEN_PREFIX

        if task.dem.startswith(TOKEN_PREFIX):   # the DEM the parent sent, in this worker's memory
            mem = SENT_DEMS.get(task.dem)   # missing: the frame fails naming the DEM, the run goes on
            task = replace(task, dem=mem.name if mem is not None else task.dem)
    out = process_frame(task)
    if task.describe and out.frame.status != "failed":
        try:
            out.ref_features = reference_features(task.path, task.data)
        except FrameError:   # the parent describes it itself
            pass
    from distributed import get_worker

    out.worker = get_worker().address   # the parent learns which workers cannot see the frames
    return out


def run_dask(tasks: Iterable[FrameTask], client, workers: int | None,
             shipping: Shipping | None = None, address: str | None = None) -> Iterator[FrameOutcome]:
    """Each task's outcome, as they finish, from the Dask cluster behind ``client``."""
    from distributed import as_completed

    shipping = shipping or Shipping()
    where = address or getattr(client, "scheduler", None) and client.scheduler.address
    router = _Router(client, shipping)
    limit = max(2 * (workers or sum(client.nthreads().values()) or 1), 2)
    it = iter(tasks)
    owner: dict = {}   # future -> (task as made, with bytes?, worker sent to, its bytes' future, tries)
    refs = _RefFeatures()
    dem_token = None
    if shipping.dem:
        dem_token, nbytes, blind = send_dem(client, shipping.dem)
        if dem_token:
            shipping.dem_sent = (shipping.dem, nbytes, blind)
    done = 0

    def submit(task: FrameTask, ship: bool | None = None, prefer=None, tries: int = 0):
        if ship is None:
            ship, prefer = router.choose()
        sent = task if dem_token is None else replace(task, dem=dem_token)
        if task.path in shipping.references and (shipping.always or shipping.blind):
            sent = replace(sent, describe=True)   # its features come back with it
        target = held = None
        if ship:
            sent, nbytes, why = _with_bytes(sent, refs)
            if sent is None:   # unreadable here too: the frame fails, named; the batch goes on
                return FrameOutcome(_failed(task, why), [], more=task.more)
            if shipping.on_shipped and not tries:
                shipping.on_shipped(task.path, nbytes)
            target = router.target(prefer)
            if target is not None:
                try:   # straight to that worker: the scheduler never holds the bytes
                    [held] = client.scatter([sent], workers=[target], direct=True, hash=False)
                except OSError:   # this PC cannot reach the worker itself: through the scheduler
                    held = target = None
        with warnings.catch_warnings():
            # Dask warns of a "large graph" past 10 MB: a frame sent through the scheduler is
            # that, by design, and only 2 x threads of them are ever in flight
            warnings.filterwarnings("ignore", message="Sending large graph")
            if held is not None:
                fut = client.submit(_frame_on_worker, held, pure=False, workers=[target])
            else:
                fut = client.submit(_frame_on_worker, sent, pure=False, workers=prefer,
                                    allow_other_workers=prefer is not None)
        owner[fut] = (task, ship, target, held, tries)
        router.sent(ship, target)
        ac.add(fut)
        return None

    ac = as_completed([])
    ready: list[FrameOutcome] = []

    def feed(n: int):
        for _ in range(n):
            nxt = next(it, None)
            if nxt is None:
                return
            failed = submit(nxt)
            if failed is not None:
                ready.append(failed)

    try:
        feed(limit)
        while ready or owner:
            while ready:
                done += 1
                yield ready.pop()
                feed(1)
            if not owner:
                break
            fut = next(ac)
            task, ship, target, held, tries = owner.pop(fut)
            router.finished(ship, target)
            try:
                out = fut.result()
            except Exception:
                if held is None or client.status != "running" or tries >= _RESEND:
                    raise
                # the worker holding the frame's bytes died with them (the scheduler is still
                # here): send the frame again, to another worker
                failed = submit(task, True, sorted(shipping.blind - {target}) or None, tries + 1)
                if failed is not None:
                    ready.append(failed)
                continue
            finally:
                fut.release()
                if held is not None:
                    held.release()   # the worker drops the frame's bytes
            if out.ref_features is not None:
                refs.put(task.path, out.ref_features)
                out.ref_features = None
            if out.unreadable and not ship:
                # this worker cannot see the frame: once more, with its bytes, to a worker
                # that needs them (or any, if every worker is blind)
                shipping.blind.add(out.worker)
                failed = submit(task, True, None)
                if failed is not None:
                    ready.append(failed)
                continue
            done += 1
            yield out
            feed(1)
    except (OSError, TimeoutError, CancelledError) as exc:
        # the scheduler went away (CommClosedError is an OSError; the client cancels the
        # futures it had once it gives up reconnecting); Dask's own words are for a developer
        why = ("it closed the connection" if isinstance(exc, (OSError, CancelledError))
               else "it stopped answering")
        raise SchedulerLost(f"lost the Dask scheduler at {where} ({why}) after {done} frame(s) of "
                            f"this run", done) from None
    finally:
        for fut in owner:
            fut.release()
        if dem_token:
            try:
                client.unregister_worker_plugin(dem_token)   # frees each worker's copy
            except Exception:  # noqa: BLE001 - a scheduler already gone took the copies with it
                pass


_RESEND = 3   # times a frame is sent again after the worker holding its bytes died


def _failed(task: FrameTask, why: str | None):
    import os

    from .store import FrameRecord
    from .worker import _now

    path = os.path.abspath(task.path)
    return FrameRecord(path=path, name=os.path.basename(path), processed_at=_now(), status="failed",
                       error=f"{why} (no worker could read it either)")
