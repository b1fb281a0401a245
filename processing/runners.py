"""The runners: hand tasks to local worker processes or to a Dask cluster, a few at a time.

At most ``2 x workers`` frames are in flight and outcomes come back as they finish, so memory
stays flat however long the flight.  Both run :func:`processing.worker.process_frame`.
"""

from __future__ import annotations

from .worker import limit_threads, process_frame

_init_worker = limit_threads   # each local worker process, as it starts


def _mp_context():
    """Workers forked from a clean server process, not from this (threaded) one.

    A plain fork copies whatever locks this process's threads (OpenCV, BLAS, tqdm) held at
    that moment, and the child can hang importing OpenCV; a forkserver starts clean and
    still starts workers in milliseconds.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["processing.worker", "cv2"])
    return ctx


def _run_local(tasks, workers):
    if workers == 0:
        for t in tasks:
            yield process_frame(t)
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    it = iter(tasks)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             mp_context=_mp_context()) as ex:
        pending = set()
        for t in it:
            pending.add(ex.submit(process_frame, t))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(ex.submit(process_frame, nxt))


def _run_dask(tasks, address, workers, shipping=None):
    """Outcomes from a Dask cluster (``address``, or a connected ``distributed.Client``)."""
    from distributed import Client

    from .cluster import run_dask

    own = not hasattr(address, "submit")
    client = Client(address) if own else address
    try:
        yield from run_dask(tasks, client, workers, shipping, address if own else None)
    finally:
        if own:
            client.close()


__all__: list[str] = []
