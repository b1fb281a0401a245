"""How far a long run is: frames done and failed, frames/s, workers alive, time left.

A park survey is thousands of frames and can run for hours on a cluster, so the analyst needs
to see it move and to see a worker PC drop out.  On a terminal this is a bar (tqdm) whose tail
says how many failed and how many workers are alive; in a log file (output not a terminal) or
in ``--watch`` mode it is a plain line every ``every_s`` seconds, and one at the end::

    progress: 120 of 7200 frames (2 failed), 9.8 frames/s, 2 Dask workers, about 12 min left

The rate is over the last minute or so (not since the start: the metadata pass and the
workers' first model load would make the time left wrong for the whole run).  A change in the
number of workers is said once, as it is noticed.
"""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Progress"]

_RATE_WINDOW_S = 60.0
_WORKERS_EVERY_S = 2.0   # asking a Dask scheduler is a round trip: not once per frame


def _duration(s: float) -> str:
    if s < 90:
        return f"{max(1, math.ceil(s))} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


class Progress:
    """Counts outcomes and shows them: a bar on a terminal, else a line every ``every_s``.

    ``echo`` takes the lines (default: stderr); ``bar`` asks for a terminal bar (default: when
    stderr is a terminal and no ``echo`` is given).  ``workers`` returns how many workers are
    alive now (the pipeline gives the Dask scheduler's count, or the local pool's size);
    ``kind`` names them in the line ("Dask workers").  ``total`` may grow (``--watch`` adds
    each batch it finds), and then ``waiting`` says how many frames are not yet through.
    """

    def __init__(self, total: int = 0, *, workers: Callable[[], int] | None = None,
                 kind: str = "workers", every_s: float = 30.0,
                 echo: Callable[[str], None] | None = None, bar: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.failed = total, 0, 0
        self.every_s, self.kind = every_s, kind
        self._workers_fn, self._clock = workers, clock
        self._echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        if bar is None:
            bar = echo is None and sys.stderr.isatty()
        self._want_bar, self._bar = bar, None
        self._open_bar()
        now = clock()
        self._started = now
        self._last_line = now
        self._times: deque = deque()   # (time, frames through) over the last window
        self._times.append((now, 0))
        self._alive: int | None = None
        self._shown = 0   # frames through at the last line
        self._asked = -1e9

    def count_workers(self, workers: Callable[[], int] | None, kind: str) -> None:
        """Where the workers are counted, if the caller did not say (the pipeline knows);
        ``kind`` is the plural ("Dask workers")."""
        if self._workers_fn is None and workers is not None:
            self._workers_fn, self.kind = workers, kind

    def _workers_word(self, n: int) -> str:
        return f"{n} {self.kind[:-1] if n == 1 and self.kind.endswith('s') else self.kind}"

    # -- counting ----------------------------------------------------------------------
    def _open_bar(self) -> None:
        # only once there is something to do: a run with every frame already done shows none
        if self._want_bar and self._bar is None and self.total > 0:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, unit="frame", desc="processing",
                             file=sys.stderr)

    def add_total(self, n: int) -> None:
        """More frames to do (the run's own, or a ``--watch`` batch found)."""
        if self.done >= self.total:
            # work starts (again) now: the time before it (metadata pass, a watch waiting for
            # frames) is not part of the rate
            now = self._clock()
            self._times.clear()
            self._times.append((now, self.done))
            self._last_line = now
        self.total += n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()
        self._open_bar()

    def update(self, failed: bool = False) -> None:
        """One more frame through (``failed``: it failed, named in the summary)."""
        self.done += 1
        self.failed += bool(failed)
        now = self._clock()
        self._times.append((now, self.done))
        while len(self._times) > 2 and now - self._times[1][0] > _RATE_WINDOW_S:
            self._times.popleft()
        self._check_workers(now)
        if self._bar is not None:
            self._bar.set_postfix_str(self._tail(), refresh=False)
            self._bar.update(1)
        elif now - self._last_line >= self.every_s:
            self._last_line, self._shown = now, self.done
            self._echo(self.line())

    def close(self) -> None:
        """The last line (or the bar closed)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._want_bar = False
        elif self.done > self._shown and not self._want_bar:
            self._shown = self.done
            self._echo(self.line())

    # -- what is shown ---------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Frames per second over the last minute or so."""
        (t0, n0), (t1, n1) = self._times[0], self._times[-1]
        if t1 - t0 <= 0:
            return 0.0
        return (n1 - n0) / (t1 - t0)

    @property
    def workers(self) -> int | None:
        return self._alive

    def _check_workers(self, now: float) -> None:
        if self._workers_fn is None or now - self._asked < _WORKERS_EVERY_S:
            return
        self._asked = now
        try:
            n = int(self._workers_fn())
        except Exception:  # noqa: BLE001 - a scheduler that stopped answering: the runner says so
            return
        if self._alive is not None and n != self._alive:
            word = "left" if n < self._alive else "joined"
            note = (f"a worker {word}: {self._alive} -> {self._workers_word(n)}"
                    + ("; its frames go to the others" if n < self._alive and n else "")
                    + ("; waiting for one to join" if n == 0 else ""))
            if self._bar is not None:
                self._bar.write(note, file=sys.stderr)
            else:
                self._echo(note)
        self._alive = n

    def _tail(self) -> str:
        parts = [f"{self.failed} failed"]
        if self._alive is not None:
            parts.append(self._workers_word(self._alive))
        return ", ".join(parts)

    def line(self) -> str:
        """``progress: 120 of 7200 frames (2 failed), 9.8 frames/s, 2 workers, about 12 min left``"""
        rate = self.rate
        text = f"progress: {self.done} of {self.total} frames ({self.failed} failed), {rate:.1f} frames/s"
        if self._alive is not None:
            text += f", {self._workers_word(self._alive)}"
        left = self.total - self.done
        if left > 0 and rate > 0:
            text += f", about {_duration(left / rate)} left"
        elif left > 0:
            text += f", {left} waiting"
        return text
