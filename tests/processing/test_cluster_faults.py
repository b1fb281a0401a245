"""A cluster run that loses a part of itself: ``uav process --dask`` as the analyst runs it (a
subprocess), on real ``dask scheduler`` / ``dask worker`` processes, one of them killed while
frames are under way.

- The scheduler killed: the run stops with one line saying what was done and written, and the
  same command on a new cluster goes on from there without doing a frame twice.
- A worker killed (SIGKILL) while its frames travel as bytes (it cannot see the card): its
  frames go to the other worker; nothing lost or doubled, the flags of a local run, and the
  progress lines say a worker left.
- A worker cut off without a word (SIGSTOP: the connection stays open, as when a cable or
  radio link drops): the scheduler gives it up after its ``worker-ttl`` (set short here; at
  least 5 s for a small cluster; a worker started with a nanny, Dask's default, costs 30 s
  more, measured by hand) and its frames go to the other worker.

Both need a run long enough to be cut: 24 real Brighton frames (../shared/data), skipped
without them.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from processing.pipeline import process_frames
from tests.processing.dask_procs import (
    BRIGHTON,
    DASK,
    UAV,
    flags_table,
    frames_table,
    start_scheduler,
    start_worker,
    stop,
    unshare_works,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not BRIGHTON.is_dir(), reason=f"no real frames at {BRIGHTON} (../shared/data)"),
              pytest.mark.skipif(not DASK.exists(), reason=f"no {DASK} (install dask[distributed])")]
COPIES = 2


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """24 Brighton frames on the analyst's card, and a local run's GeoPackage of them."""
    root = tmp_path_factory.mktemp("faults")
    frames = root / "card" / "DCIM"
    frames.mkdir(parents=True)
    src = sorted(BRIGHTON.glob("DJI_*.JPG"))
    for k in range(COPIES * len(src)):
        os.symlink(src[k % len(src)], frames / f"c{k // len(src)}_{src[k % len(src)].name}")
    local = root / "local.gpkg"
    process_frames([frames], local, workers=2, progress=False)
    return root, frames, local


def _written(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM frames").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:   # not created yet, or no table yet
        return 0


def _run_until(out, cmd, written: int, timeout_s: float = 120):
    """Start ``uav process`` and return it once ``written`` frames are in ``out``."""
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout_s
    while _written(out) < written:
        if run.poll() is not None:
            pytest.fail(f"the run ended before {written} frames were written:\n{run.stdout.read()}")
        if time.monotonic() > deadline:
            run.kill()
            pytest.fail(f"{written} frames not written within {timeout_s} s")
        time.sleep(0.05)
    return run


def _signal_tree(proc, sig):
    """``dask worker`` is a nanny whose child process runs the tasks: both get ``sig``."""
    import psutil

    for p in (*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)):
        p.send_signal(sig)


def _cluster(root, workers: int, hidden=None, env=None, nanny=True):
    from distributed import Client

    sched, address = start_scheduler(root, env)
    procs = [start_worker(address, root / f"pc{k}-{time.monotonic_ns()}", hidden=hidden, nanny=nanny)
             for k in range(workers)]
    with Client(address, timeout=20) as client:
        client.wait_for_workers(workers, timeout=60)
    return sched, procs, address


def test_a_lost_scheduler_stops_the_run_saying_what_was_done_and_the_next_run_goes_on(card):
    root, frames, local = card
    out = root / "cut.gpkg"
    sched, workers, address = _cluster(root, 1)
    try:
        run = _run_until(out, [str(UAV), "process", str(frames), "--out", str(out), "--dask", address,
                               "--quiet"], written=3)
        sched.kill()
        said, _ = run.communicate(timeout=90)
    finally:
        stop(*workers, sched)
    assert run.returncode == 2, said
    done = _written(out)
    assert 3 <= done < 24, said
    assert f"lost the Dask scheduler at {address}" in said
    assert f"of the 24 frame(s) to do are written to {out} with their flags" in said
    assert "run the same command" in said and "Traceback" not in said, said
    # a new cluster (another address, as after a restart): the run goes on from the file
    sched, workers, address = _cluster(root, 1)
    try:
        again = subprocess.run([str(UAV), "process", str(frames), "--out", str(out), "--dask", address,
                                "--quiet"], capture_output=True, text=True, timeout=180)
    finally:
        stop(*workers, sched)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{24 - done} frame(s) processed" in again.stdout and f"{done} already done" in again.stdout
    assert _written(out) == 24 and frames_table(out) == frames_table(local)   # each frame once
    assert flags_table(out) == flags_table(local)


def test_a_worker_killed_while_frames_travel_loses_and_doubles_nothing(card):
    why = unshare_works()
    if why:
        pytest.skip(why)
    root, frames, local = card
    out = root / "killed.gpkg"
    sched, workers, address = _cluster(root, 2, hidden=root / "card")
    try:
        run = _run_until(out, [str(UAV), "process", str(frames), "--out", str(out), "--dask", address,
                               "--ship-frames", "--progress-every", "0"], written=3)
        workers[0].send_signal(signal.SIGKILL)   # the dask worker itself (unshare execs into it)
        said, _ = run.communicate(timeout=180)
    finally:
        stop(*workers, sched)
    assert run.returncode == 0, said
    assert "24 frame(s) processed" in said and "sent over the network: 24 frame(s)" in said
    assert "a worker left: 2 -> 1 Dask worker; its frames go to the others" in said, said
    assert _written(out) == 24                        # each frame once
    assert frames_table(out) == frames_table(local)   # SHA-256 of the files, statuses, poses
    assert flags_table(out) == flags_table(local)


def test_a_worker_cut_off_without_a_word_is_given_up_and_its_frames_done_elsewhere(card):
    root, frames, local = card
    out = root / "silent.gpkg"
    # --no-nanny: the scheduler drops a silent worker after its ttl; with a nanny (the default)
    # it first waits 30 s for the nanny, silent too, to restart it (docs/cluster.md)
    sched, workers, address = _cluster(root, 2, env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "1s"},
                                       nanny=False)
    try:
        run = _run_until(out, [str(UAV), "process", str(frames), "--out", str(out), "--dask", address,
                               "--progress-every", "0"], written=3)
        _signal_tree(workers[0], signal.SIGSTOP)   # frozen: no heartbeat, no closed connection
        said, _ = run.communicate(timeout=180)
    finally:
        _signal_tree(workers[0], signal.SIGCONT)
        stop(*workers, sched)
    assert run.returncode == 0, said
    assert "24 frame(s) processed" in said and "a worker left: 2 -> 1 Dask worker" in said, said
    assert _written(out) == 24
    assert frames_table(out) == frames_table(local) and flags_table(out) == flags_table(local)
