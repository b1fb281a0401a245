"""Bring a flight GeoPackage written by an older amur-uav up to date when it is opened for writing.

Every change to the file's layout since the first version is undone here in order, each step
idempotent and nothing lost (a reviewer's decisions, the flags, the metadata):

* ``flags.sighting_id``, ``flags.look``, ``flags.apart`` (sightings; movers chained by their
  look; a flag split off its sighting by a reviewer): columns added;
* ``flags.position_uncertainty_m`` and ``sightings.position_uncertainty_m`` (how far a position
  may be off, :mod:`processing.flag_uncertainty`): columns added, empty for flags placed before
  it was measured;
* ``frame_searches`` (what each frame was searched for): added and filled from the detectors
  the flight recorded; its ``sensitivity`` column (the ranger's level) added, empty for
  searches made before levels existed;
* ``flight_meta`` keyed by an INTEGER PRIMARY KEY: up to now its key was a TEXT primary key,
  which the GeoPackage standard forbids in an attribute table (requirement 119: GDAL's
  ``validate_gpkg.py`` refuses the file and strict GIS readers may too).  The table is rebuilt
  with an ``id`` column, ``key`` kept UNIQUE, every row copied.

Opening for reading (``uav review``'s listing, ``uav export``) changes nothing: every reader
here works on both layouts (``flight_meta`` is only ever read by key).
"""

from __future__ import annotations

import sqlite3

from uav.errors import FlightStoreError

from .format import FLIGHT_META_SCHEMA, SEARCHES_CONTENTS, SEARCHES_SCHEMA

__all__ = ["needs_upgrade", "upgrade"]


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(con, table: str) -> dict[str, tuple[str, int]]:
    """column name -> (declared type, position in the primary key)."""
    return {r[1]: (r[2].upper(), r[5]) for r in con.execute(f"PRAGMA table_info({table})")}


def _meta_keyed_by_text(con) -> bool:
    return "id" not in _columns(con, "flight_meta")


def _sightings_lack_uncertainty(con) -> bool:
    return "sightings" in _tables(con) and "position_uncertainty_m" not in _columns(con, "sightings")


def needs_upgrade(con) -> bool:
    """Whether the file behind ``con`` lacks anything this version writes."""
    return (not {"sighting_id", "look", "apart", "position_uncertainty_m"} <= set(_columns(con, "flags"))
            or _sightings_lack_uncertainty(con) or "frame_searches" not in _tables(con) or _meta_keyed_by_text(con)
            or "sensitivity" not in _columns(con, "frame_searches"))


def upgrade(store) -> None:
    """Bring ``store`` (a :class:`~processing.store.FlightStore` on a file made by an older
    version) up to date; :class:`FlightStoreError` saying what to do when it cannot be written."""
    if not needs_upgrade(store._con):
        return
    try:
        # The checks are made again inside the transaction: two programs opening the same old
        # file at once (``uav process --watch`` and the review page) must not both rebuild it.
        with store._tx() as con:
            cols = _columns(con, "flags")
            if "sighting_id" not in cols:
                con.execute("ALTER TABLE flags ADD COLUMN sighting_id INTEGER")
                con.execute("CREATE INDEX IF NOT EXISTS flags_sighting ON flags(sighting_id)")
            if "look" not in cols:
                con.execute("ALTER TABLE flags ADD COLUMN look TEXT")
            if "apart" not in cols:
                con.execute("ALTER TABLE flags ADD COLUMN apart INTEGER NOT NULL DEFAULT 0")
            if "position_uncertainty_m" not in cols:
                con.execute("ALTER TABLE flags ADD COLUMN position_uncertainty_m REAL")
            if _sightings_lack_uncertainty(con):
                con.execute("ALTER TABLE sightings ADD COLUMN position_uncertainty_m REAL")
            if _meta_keyed_by_text(con):
                _rebuild_flight_meta(con)
        if "frame_searches" not in _tables(store._con):
            store.add_layer(SEARCHES_SCHEMA, SEARCHES_CONTENTS)
            _backfill_searches(store)
        elif "sensitivity" not in _columns(store._con, "frame_searches"):
            with store._tx() as con:
                if "sensitivity" not in _columns(con, "frame_searches"):
                    con.execute("ALTER TABLE frame_searches ADD COLUMN sensitivity TEXT")
    except sqlite3.OperationalError as exc:
        raise FlightStoreError(f"{store.path} was made by an older amur-uav and cannot be updated "
                               f"({exc}); is it read-only? Copy it somewhere writable and try again, "
                               "or open it with `uav review`/`uav export`, which only read") from None


def _rebuild_flight_meta(con) -> None:
    """``flight_meta (key TEXT PRIMARY KEY, value)`` -> ``(id INTEGER PRIMARY KEY, key UNIQUE,
    value)``, rows in their old order; its ``gpkg_contents`` entry names the table, so it stays."""
    con.execute("ALTER TABLE flight_meta RENAME TO flight_meta_before_upgrade")
    con.execute(FLIGHT_META_SCHEMA)
    con.execute("INSERT INTO flight_meta (key, value) SELECT key, value "
                "FROM flight_meta_before_upgrade ORDER BY rowid")
    con.execute("DROP TABLE flight_meta_before_upgrade")


def _backfill_searches(store) -> None:
    """Frames done before searches were recorded get the detectors their flight recorded
    (``flight_meta.detectors``, the last run's), model unknown, marked "before records"."""
    row = store._con.execute("SELECT value FROM flight_meta WHERE key = 'detectors'").fetchone()
    names = [n.strip() for n in (row[0] if row and row[0] else "").split(",") if n.strip()]
    with store._tx() as con:
        fids = [r[0] for r in con.execute("SELECT fid FROM frames WHERE status IN ('done','no_pose')")]
        con.executemany("INSERT OR IGNORE INTO frame_searches (frame_fid, detector, searched_at) "
                        "VALUES (?,?,'before records')", [(f, n) for f in fids for n in names])
