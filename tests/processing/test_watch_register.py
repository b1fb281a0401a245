"""`uav process --watch --register`: the flight is registered again only once it has grown by a
quarter (the solve is of the whole flight, so doing it after every batch of a long flight would
hold up the next frames' alerts), and once more when the watch stops, so the flight ends as
registered at once."""

from __future__ import annotations

import shutil
import sqlite3
import time

from processing import process_frames
from processing.watch import watch_folder
from tests.processing.test_registration_cache import _rows
from tests.processing.test_registration_ground import _render


def _count(gpkg, sql) -> int:
    con = sqlite3.connect(gpkg)
    try:
        return con.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:      # the table is not made yet
        return 0
    finally:
        con.close()


def test_a_watch_registers_as_the_flight_grows_and_when_it_stops(tmp_path):
    s = _render(tmp_path / "src", 0.0, cols=3, rows=2)
    once = tmp_path / "once.gpkg"
    process_frames(s.paths, once, detectors=(), workers=0, progress=False, register=True)
    card, gpkg = tmp_path / "card", tmp_path / "w.gpkg"
    card.mkdir()
    for p in s.paths[:5]:
        shutil.copy(p, card)
    lines, seen = [], {}
    deadline = time.monotonic() + 120

    def stop():
        done = _count(gpkg, "SELECT count(*) FROM frames WHERE status = 'done'") if gpkg.exists() else 0
        if done == 5 and "first" not in seen:
            seen["first"] = _count(gpkg, "SELECT count(*) FROM frame_registration")
            shutil.copy(s.paths[5], card)      # one more: 6 < 5 x 1.25, not registered yet
        if done == 6 and "second" not in seen:
            seen["second"] = _count(gpkg, "SELECT count(*) FROM frame_registration")
        return "second" in seen or time.monotonic() > deadline

    summary = watch_folder(card, gpkg, poll_s=0.1, settle_s=0.2, stop=stop, echo=lines.append,
                           detectors=(), workers=0, register=True)
    assert summary.done == 6
    said = [line for line in lines if line.startswith("registration:")]
    assert seen == {"first": 5, "second": 5}, (seen, lines)
    assert len(said) == 2 and "5 of 5 frame(s) tied" in said[0] and "6 of 6 frame(s) tied" in said[1], lines
    # after the stop: every frame registered, as if the flight had been registered at once
    def by_name(gp):
        return [{**r, "path": r["path"].rsplit("/", 1)[-1]} for r in _rows(gp)]

    assert by_name(gpkg) == by_name(once)
