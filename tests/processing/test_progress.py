"""The progress lines of a long run (processing.progress): what the analyst reads in a log file
or a --watch console. A fake clock stands for the hours a park survey takes."""

from __future__ import annotations

from processing.progress import Progress


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_lines_say_done_failed_rate_workers_and_time_left_every_interval():
    clock, lines, alive = Clock(), [], [3]
    p = Progress(every_s=30, echo=lines.append, bar=False, clock=clock, workers=lambda: alive[0],
                 kind="Dask workers")
    clock.t += 40          # the metadata pass: not part of the rate
    p.add_total(7200)
    for k in range(480):   # 8 frames/s for a minute, one in 40 failing
        clock.t += 0.125
        p.update(failed=k % 40 == 0)
    assert [line.split(" frames")[0] for line in lines] == ["progress: 240 of 7200", "progress: 480 of 7200"]
    assert lines[-1] == "progress: 480 of 7200 frames (12 failed), 8.0 frames/s, 3 Dask workers, about 14 min left"
    alive[0] = 1           # two PCs went away
    clock.t += 2.5
    p.update()
    assert lines[-1] == "a worker left: 3 -> 1 Dask worker; its frames go to the others"
    for _ in range(10):    # the last minute's rate, not the run's: slower now
        clock.t += 1.0
        p.update()
    assert " 1 Dask worker," in p.line() and p.rate < 8
    alive[0] = 0
    clock.t += 2.5
    p.update()
    assert lines[-1] == "a worker left: 1 -> 0 Dask workers; waiting for one to join"
    p.close()
    assert lines[-1].startswith("progress: 492 of 7200 frames (12 failed)")


def test_a_scheduler_that_stops_answering_keeps_the_last_count_and_the_end_has_no_time_left():
    clock, lines = Clock(), []

    def gone():
        raise OSError("scheduler gone")

    p = Progress(total=2, every_s=0, echo=lines.append, bar=False, clock=clock, workers=gone)
    clock.t += 1
    p.update()
    clock.t += 1
    p.update(failed=True)
    p.close()
    assert lines == ["progress: 1 of 2 frames (0 failed), 1.0 frames/s, about 1 s left",
                     "progress: 2 of 2 frames (1 failed), 1.0 frames/s"]
