"""Frames that travel to Dask workers which cannot read them, and where each one goes.

A worker that cannot open a frame's path says so (:attr:`FrameOutcome.unreadable`); from then
on it gets the frame's bytes in its task (:attr:`FrameTask.data`), and workers that see the
paths keep reading them from their own disk (:class:`_Router` balances the two by threads).
A task with bytes is sent straight to the worker chosen for it (the one with the fewest of
this run's tasks), not through the scheduler: the scheduler only learns the task's key, so its
PC and its network link carry no frame, and on one machine the bytes are copied once less.  A
re-saved frame's pixel check gets its neighbours' ORB features (:class:`_RefFeatures`), not
their bytes.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from uav.errors import FrameError

from .frames import read_frame_bytes
from .tasks import FrameTask
from .worker import reference_features

__all__ = ["Shipping"]


@dataclass
class Shipping:
    """Which frames travelled as bytes, and to which workers (the summary's line)."""

    always: bool = False                          # --ship-frames: every frame goes with its bytes
    blind: set = field(default_factory=set)       # workers that could not read a frame's path
    on_shipped: Callable[[str, int], None] | None = None   # (path, bytes sent)
    references: frozenset = frozenset()           # frames re-saved frames are checked against
    dem: str | None = None                        # --dem: sent too where a worker cannot read it
    dem_sent: tuple[str, int, int] | None = None  # (its path, bytes, workers that could not read it)


class _RefFeatures:
    """The parent's few most recent reference frames, described once each.

    A re-saved frame's pixels are checked against up to three untouched neighbours. Sending
    their bytes tripled what travelled (9.3 MB a Brighton frame instead of 3.4) and every
    byte is pickled here, relayed and unpickled on the worker; their ORB features at 1/8 size
    are about 100 kB, computed once per reference (a reference serves several re-saved frames
    in a row).  The worker that processed a reference sends its features back
    (:meth:`put`); only a reference still in flight is decoded here.
    """

    def __init__(self, keep: int = 32):
        self.keep, self.cache = keep, OrderedDict()

    def get(self, path: str):
        feat = self.cache.get(path)
        if feat is None:
            try:
                feat = reference_features(path)
            except FrameError:
                feat = None   # the check goes on with the others; that frame's task says why
            self.cache[path] = feat
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(path)
        return feat

    def put(self, path: str, feat) -> None:
        self.cache[path] = feat
        while len(self.cache) > self.keep:
            self.cache.popitem(last=False)


def _with_bytes(task: FrameTask, refs: _RefFeatures) -> tuple[FrameTask | None, int, str | None]:
    """The task with its frame's bytes (and its neighbours' features), their size; or why not."""
    try:
        data = read_frame_bytes(task.path)
    except FrameError as exc:
        return None, 0, str(exc)
    feats = tuple(refs.get(ref_path) for ref_path, _ in task.rotation_refs)
    nbytes = len(data) + sum(p.nbytes + (0 if d is None else d.nbytes) for p, d in filter(None, feats))
    return replace(task, data=data, ref_data=feats), nbytes, None


class _Router:
    """Plain tasks to workers that see the paths, tasks with bytes to those that do not."""

    def __init__(self, client, shipping: Shipping):
        self.client, self.shipping = client, shipping
        self.threads: dict = {}
        self.asked = 0.0
        self.flight = {True: 0, False: 0}        # tasks in flight with / without bytes
        self.on: Counter = Counter()             # tasks with bytes in flight, per worker

    def target(self, prefer: list | None) -> str | None:
        """The worker a task with bytes goes straight to: of ``prefer`` (else any), the one
        with the fewest of this run's bytes in flight (ties: the first by address)."""
        workers = self._workers()
        pool = [w for w in (prefer or workers) if w in workers]
        if not pool:
            return None
        return min(sorted(pool), key=lambda w: self.on[w])

    def sent(self, ship: bool, worker: str | None) -> None:
        self.flight[ship] += 1
        if worker:
            self.on[worker] += 1

    def finished(self, ship: bool, worker: str | None) -> None:
        self.flight[ship] -= 1
        if worker:
            self.on[worker] -= 1

    def _workers(self) -> dict:
        if time.monotonic() - self.asked > 2.0:  # a scheduler round trip: not once per frame
            self.threads, self.asked = self.client.nthreads(), time.monotonic()
        return self.threads

    def choose(self) -> tuple[bool, list | None]:
        """(send bytes?, workers to prefer)."""
        blind = self.shipping.blind
        if self.shipping.always:
            return True, None
        if not blind:
            return False, None
        workers = self._workers()
        seeing = [w for w in workers if w not in blind]
        if not seeing:
            return True, None
        # keep each side about as busy per thread as the other
        t_blind = sum(n for w, n in workers.items() if w in blind) or 1
        t_seeing = sum(workers[w] for w in seeing) or 1
        if self.flight[True] / t_blind < self.flight[False] / t_seeing:
            return True, sorted(blind)
        return False, seeing


