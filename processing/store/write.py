"""The flight GeoPackage's write side: one file per flight, frames and flags, transactionally.

It is written with Python's :mod:`sqlite3` rather than GDAL so that each frame's result (its row
and all its flags) lands in one transaction: a crash loses at most the frame in flight, and a
re-run skips every frame already written.  The layout is in :mod:`.format`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import shapely

from uav.errors import FlightStoreError, InvalidInputError, ReviewConflictError

from .format import (
    _CONTENTS,
    _FLAG_COLS,
    _FRAME_COLS,
    _SCHEMA,
    _SRS_ROWS,
    APPLICATION_ID,
    FLAG_STATUSES,
    FLIGHT_META_SCHEMA,
    FRAME_STATUSES,
    SEARCHES_CONTENTS,
    SEARCHES_SCHEMA,
    USER_VERSION,
    Decision,
    FlagRecord,
    FrameRecord,
    SearchRecord,
    _now,
    _register,
    gpkg_geometry,
    parse_gpkg_geometry,
)
from .migrate import upgrade


def _bool_or_none(v):
    return None if v is None else bool(v)


class FlightStore:
    """A flight GeoPackage, opened for reading and writing.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.gpkg`` file.  Created (with the full schema) when it does not exist.
    create : bool, optional
        ``False`` refuses to create a missing file (raises :class:`FlightStoreError`).

    Use as a context manager; all writes are transactions, so another process (the review page)
    may read and write the same file concurrently.

    Examples
    --------
    >>> with FlightStore("flight.gpkg") as store:          # doctest: +SKIP
    ...     if not store.frame_done("/data/DJI_0001.JPG"):
    ...         store.add_frame_result(FrameRecord(path="/data/DJI_0001.JPG"), [])
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True, timeout: float = 30.0):
        self.path = Path(path)
        existed = self.path.exists()
        if not existed and not create:
            raise FlightStoreError(f"no flight GeoPackage at {self.path}")
        if existed and self.path.is_dir():
            raise FlightStoreError(f"{self.path} is a folder, not a flight GeoPackage file")
        if not existed and not self.path.parent.exists():
            raise FlightStoreError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        self._lock = threading.RLock()
        try:
            self._con = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                        check_same_thread=False)
            self._con.execute("PRAGMA foreign_keys = ON")
            if existed:
                self._check()
                self._migrate()
            else:
                self._init_schema()
            self._con.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise FlightStoreError(f"{self.path} is not a usable flight GeoPackage: {exc}") from None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike) -> FlightStore:
        """Create a new, empty flight GeoPackage; refuses to overwrite an existing file."""
        if Path(path).exists():
            raise FlightStoreError(f"{path} already exists; open it instead, or choose another name")
        return cls(path, create=True)

    @classmethod
    def open(cls, path: str | os.PathLike) -> FlightStore:
        """Open an existing flight GeoPackage (error if it is missing)."""
        return cls(path, create=False)

    def _init_schema(self):
        con = self._con
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {USER_VERSION}")
        # executescript commits on its own; the schema is idempotent (IF NOT EXISTS).
        con.executescript("BEGIN;" + _SCHEMA + FLIGHT_META_SCHEMA + ";" + SEARCHES_SCHEMA + "COMMIT;")
        with self._tx():
            con.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", _SRS_ROWS)
            _register(con, _CONTENTS + SEARCHES_CONTENTS)
            con.execute("INSERT OR IGNORE INTO flight_meta (key, value) VALUES ('created_at', ?)", (_now(),))
            con.execute("INSERT OR IGNORE INTO flight_meta (key, value) VALUES ('created_by', 'amur-uav')")

    def _check(self):
        app_id = self._con.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"frames", "flags", "decisions", "flight_meta", "gpkg_contents"} - tables
        if app_id != APPLICATION_ID or missing:
            why = "not a GeoPackage" if app_id != APPLICATION_ID else f"missing table(s) {', '.join(sorted(missing))}"
            raise FlightStoreError(f"{self.path} is not a flight GeoPackage made by amur-uav ({why})")

    def _migrate(self):
        """Bring a file made by an older version up to date (:mod:`.migrate`)."""
        upgrade(self)

    def add_layer(self, schema_sql: str, contents) -> None:
        """Create more tables (idempotent SQL) and list them in gpkg_contents, as
        ``(table, data_type, identifier, description, geometry type or None)`` rows."""
        self._con.executescript("BEGIN;" + schema_sql + "COMMIT;")
        with self._tx() as con:
            _register(con, contents)

    # -- plumbing --------------------------------------------------------------------------
    class _Tx:
        def __init__(self, store, immediate):
            self.store, self.immediate = store, immediate

        def __enter__(self):
            self.store._lock.acquire()
            try:
                self.store._con.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._con

        def __exit__(self, exc_type, exc, tb):
            try:
                self.store._con.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()
            return False

    def _tx(self, immediate: bool = True):
        return FlightStore._Tx(self, immediate)

    def _query(self, sql, args=()):
        with self._lock:
            try:
                return self._con.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise FlightStoreError(f"reading {self.path} failed: {exc}") from None

    def close(self):
        """Update the layer extents and close the file."""
        if self._con is None:
            return
        try:
            self._update_extents()
        except sqlite3.Error:  # a read-only or locked file still closes
            pass
        self._con.close()
        self._con = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _update_extents(self):
        # Frames have footprints wider than their centre; the flags' points lie inside them.
        ext = {}
        tables = {r[0] for r in self._con.execute("SELECT table_name FROM gpkg_contents")}
        for table in ("frames", "flags", "sightings")[:3 if "sightings" in tables else 2]:
            row = self._con.execute(f"SELECT min(lon), min(lat), max(lon), max(lat) FROM {table}"
                                    " WHERE lon IS NOT NULL").fetchone()
            ext[table] = row
        fp = self._con.execute("SELECT geom FROM frames WHERE geom IS NOT NULL").fetchall()
        if fp:
            b = shapely.total_bounds([parse_gpkg_geometry(g[0]) for g in fp])
            ext["frames"] = tuple(b)
        with self._tx():
            for table, (x0, y0, x1, y1) in ext.items():
                if x0 is None:
                    continue
                self._con.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?,"
                                  " last_change=? WHERE table_name=?", (x0, y0, x1, y1, _now(), table))

    # -- frames ----------------------------------------------------------------------------
    def frame_done(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` was already processed (status ``done`` or ``no_pose``).

        Failed frames are not "done": a re-run tries them again (the telemetry may be fixed).
        """
        rows = self._query("SELECT status FROM frames WHERE path = ?", (_abspath(path),))
        return bool(rows) and rows[0][0] in ("done", "no_pose")

    def done_paths(self) -> set[str]:
        """Absolute paths of every frame already processed (for skipping in bulk)."""
        return {r[0] for r in self._query("SELECT path FROM frames WHERE status IN ('done','no_pose')")}

    def add_frame_result(self, frame: FrameRecord, flags: list[FlagRecord] = (),
                         searches: list[SearchRecord] = (), *, more: bool = False) -> int:
        """Write one frame, all its flags and what it was searched for in ONE transaction;
        returns the frame's fid.

        A frame already in the file (a failed one being retried) is replaced, its old flags and
        search records removed; its fid is kept.  ``more=True`` instead adds to a frame already
        done: it was searched for more detectors (or again with a newer model), so its row and
        the flags of the other detectors stay; the undecided flags of the detectors searched
        again are replaced (a decided flag is kept: a reviewer's work is never thrown away).
        """
        if frame.status not in FRAME_STATUSES:
            raise InvalidInputError(f"frame status must be one of {FRAME_STATUSES}, got {frame.status!r}")
        path = _abspath(frame.path)
        values = {c: getattr(frame, c) for c in _FRAME_COLS}
        values["path"] = path
        values["name"] = frame.name or Path(path).name
        values["processed_at"] = frame.processed_at or _now()
        values["yaw_corrected"] = int(bool(frame.yaw_corrected))
        values["thermal"] = int(bool(frame.thermal))
        geom = gpkg_geometry(frame.footprint)
        cols = ["geom"] + list(values)
        try:
            with self._tx() as con:
                old = con.execute("SELECT fid FROM frames WHERE path = ?", (path,)).fetchone()
                if old and more:
                    fid = old[0]
                    again = [s.detector for s in searches]
                    con.executemany("DELETE FROM flags WHERE frame_fid = ? AND detector = ? AND status = 'new'",
                                    [(fid, d) for d in again])
                elif old:
                    fid = old[0]
                    con.execute("DELETE FROM flags WHERE frame_fid = ?", (fid,))
                    con.execute("DELETE FROM frame_searches WHERE frame_fid = ?", (fid,))
                    sets = ", ".join(f"{c} = ?" for c in cols)
                    con.execute(f"UPDATE frames SET {sets} WHERE fid = ?", (geom, *values.values(), fid))
                else:
                    cur = con.execute(f"INSERT INTO frames ({', '.join(cols)}) VALUES "
                                      f"({', '.join('?' * len(cols))})", (geom, *values.values()))
                    fid = cur.lastrowid
                for flag in flags:
                    self._insert_flag(con, flag, fid, path)
                con.executemany("INSERT OR REPLACE INTO frame_searches (frame_fid, detector, model, threshold, "
                                "searched_at, sensitivity) VALUES (?,?,?,?,?,?)",
                                [(fid, s.detector, s.model, s.threshold, s.searched_at or values["processed_at"],
                                  s.sensitivity) for s in searches])
        except sqlite3.Error as exc:
            raise FlightStoreError(f"writing frame {path} to {self.path} failed: {exc}") from None
        frame.fid = fid
        return fid

    def searches(self) -> dict[int, dict[str, SearchRecord]]:
        """What every frame was searched for: frame fid -> detector name -> record."""
        out: dict[int, dict[str, SearchRecord]] = {}
        for fid, det, model, thr, at, level in self._query(
                "SELECT frame_fid, detector, model, threshold, searched_at, sensitivity FROM frame_searches"):
            out.setdefault(fid, {})[det] = SearchRecord(det, model, thr, at, level)
        return out

    def done_frames(self) -> dict[str, tuple[int, bool]]:
        """Every frame already processed: absolute path -> (fid, thermal)."""
        return {r[0]: (r[1], bool(r[2])) for r in self._query(
            "SELECT path, fid, thermal FROM frames WHERE status IN ('done','no_pose')")}

    def _insert_flag(self, con, flag: FlagRecord, frame_fid: int, frame_path: str):
        if flag.status not in FLAG_STATUSES:
            raise InvalidInputError(f"flag status must be one of {FLAG_STATUSES}, got {flag.status!r}")
        flag.frame_fid, flag.frame_path = frame_fid, frame_path
        vals = [getattr(flag, "cls" if c == "class" else c) for c in _FLAG_COLS]
        vals[_FLAG_COLS.index("size_ok")] = None if flag.size_ok is None else int(bool(flag.size_ok))
        vals[_FLAG_COLS.index("apart")] = int(bool(flag.apart))
        geom = None
        if flag.lat is not None and flag.lon is not None:
            geom = gpkg_geometry(shapely.Point(flag.lon, flag.lat))
        cur = con.execute(f"INSERT INTO flags (geom, {', '.join(_FLAG_COLS)}) VALUES "
                          f"({', '.join('?' * (len(_FLAG_COLS) + 1))})", (geom, *vals))
        flag.fid = cur.lastrowid

    def frames(self, status: str | None = None) -> list[FrameRecord]:
        """Every frame (optionally of one status), in the order they were first written."""
        sql = f"SELECT fid, geom, {', '.join(_FRAME_COLS)} FROM frames"
        args: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        return [self._frame_from_row(r) for r in self._query(sql + " ORDER BY fid", args)]

    def frame(self, fid: int) -> FrameRecord:
        """One frame by fid (:class:`FlightStoreError` if absent)."""
        rows = self._query(f"SELECT fid, geom, {', '.join(_FRAME_COLS)} FROM frames WHERE fid = ?", (fid,))
        if not rows:
            raise FlightStoreError(f"no frame {fid} in {self.path}")
        return self._frame_from_row(rows[0])

    @staticmethod
    def _frame_from_row(r) -> FrameRecord:
        kw = dict(zip(_FRAME_COLS, r[2:], strict=True))
        kw["yaw_corrected"] = bool(kw["yaw_corrected"])
        kw["thermal"] = bool(kw["thermal"])
        return FrameRecord(fid=r[0], footprint=parse_gpkg_geometry(r[1]), **kw)

    # -- flags -----------------------------------------------------------------------------
    def flags(self, status: str | None = None, cls: str | None = None,
              frame_fid: int | None = None) -> list[FlagRecord]:
        """Flags, optionally filtered by review status, class and frame; ordered by fid."""
        where, args = [], []
        for col, val in (("status", status), ("class", cls), ("frame_fid", frame_fid)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = f"SELECT fid, {', '.join(_FLAG_COLS)} FROM flags"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [self._flag_from_row(r) for r in self._query(sql + " ORDER BY fid", tuple(args))]

    def flag(self, fid: int) -> FlagRecord:
        """One flag by fid (:class:`FlightStoreError` if absent)."""
        rows = self._query(f"SELECT fid, {', '.join(_FLAG_COLS)} FROM flags WHERE fid = ?", (fid,))
        if not rows:
            raise FlightStoreError(f"no flag {fid} in {self.path}")
        return self._flag_from_row(rows[0])

    @staticmethod
    def _flag_from_row(r) -> FlagRecord:
        kw = {("cls" if c == "class" else c): v for c, v in zip(_FLAG_COLS, r[1:], strict=True)}
        kw["size_ok"] = _bool_or_none(kw["size_ok"])
        kw["apart"] = bool(kw["apart"])
        return FlagRecord(fid=r[0], **kw)

    def flag_counts(self) -> dict[str, int]:
        """Number of flags per class."""
        return dict(self._query("SELECT class, count(*) FROM flags GROUP BY class ORDER BY class"))

    # -- review ----------------------------------------------------------------------------
    def set_decision(self, flag_fid: int, status: str, note: str | None = None,
                     reviewer: str | None = None, expected_version: int | None = None) -> int:
        """Record a review decision on a flag; returns the flag's new version.

        Parameters
        ----------
        flag_fid : int
        status : {'new', 'confirmed', 'rejected', 'uncertain'}
        note, reviewer : str, optional
        expected_version : int, optional
            The version the reviewer saw.  If the flag has moved on since (another tab or
            reviewer decided first) :class:`ReviewConflictError` is raised and nothing changes.
            ``None`` skips the check.
        """
        if status not in FLAG_STATUSES:
            raise InvalidInputError(f"a decision must be one of {', '.join(FLAG_STATUSES)}; got {status!r}")
        at = _now()
        try:
            with self._tx() as con:
                row = con.execute("SELECT version FROM flags WHERE fid = ?", (flag_fid,)).fetchone()
                if row is None:
                    raise FlightStoreError(f"no flag {flag_fid} in {self.path}")
                if expected_version is not None and row[0] != expected_version:
                    raise ReviewConflictError(
                        f"flag {flag_fid} was changed by someone else (now version {row[0]}, "
                        f"your decision was based on version {expected_version}); reload it and decide again")
                new_version = row[0] + 1
                record_flag_decisions(con, [flag_fid], status, note, reviewer, at)
        except sqlite3.Error as exc:
            raise FlightStoreError(f"saving the decision on flag {flag_fid} failed: {exc}") from None
        return new_version

    def decisions(self, flag_fid: int | None = None) -> list[Decision]:
        """Decision history, oldest first (optionally for one flag)."""
        sql = "SELECT id, flag_fid, status, note, reviewer, at FROM decisions"
        args: tuple = ()
        if flag_fid is not None:
            sql += " WHERE flag_fid = ?"
            args = (flag_fid,)
        return [Decision(*r) for r in self._query(sql + " ORDER BY id", args)]

    # -- track and metadata ----------------------------------------------------------------
    def add_track(self, coords, source: str = "") -> int:
        """Add the flown track (sequence of ``(lon, lat)``); returns its fid."""
        coords = [(float(c[0]), float(c[1])) for c in coords]
        if len(coords) < 2:
            raise InvalidInputError(f"a track needs at least 2 positions, got {len(coords)}")
        with self._tx() as con:
            cur = con.execute("INSERT INTO track (geom, source) VALUES (?, ?)",
                              (gpkg_geometry(shapely.LineString(coords)), source))
            return cur.lastrowid

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM flight_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value) -> None:
        with self._tx() as con:
            # an upsert, not INSERT OR REPLACE: the row keeps its id
            con.execute("INSERT INTO flight_meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, None if value is None else str(value)))

    @property
    def meta(self) -> dict[str, str]:
        """All of ``flight_meta`` as a dict (a copy; write with :meth:`set_meta`)."""
        return dict(self._query("SELECT key, value FROM flight_meta ORDER BY key"))


def record_flag_decisions(con, flag_fids, status: str, note: str | None,
                          reviewer: str | None, at: str) -> None:
    """Set the decision on these flags and append it to their history, inside the caller's
    transaction (a flag decided alone and the flags of a decided sighting alike)."""
    con.executemany("UPDATE flags SET status=?, note=?, reviewer=?, reviewed_at=?, "
                    "version=version+1 WHERE fid=?",
                    [(status, note, reviewer, at, f) for f in flag_fids])
    con.executemany("INSERT INTO decisions (flag_fid, status, note, reviewer, at) "
                    "VALUES (?,?,?,?,?)", [(f, status, note, reviewer, at) for f in flag_fids])


def _abspath(path) -> str:
    return os.path.abspath(os.fspath(path))


__all__ = ["FlightStore"]
