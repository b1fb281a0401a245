"""Read a flight GeoPackage for the review page and the exports, and record review decisions.

The GeoPackage layout is the one :mod:`.write` writes (layers ``frames``, ``flags``,
``track``; attribute tables ``decisions`` and ``flight_meta``).  This module only adds the queries
the review page needs (filtered, sorted, paginated flag lists; neighbouring frames; a compact
marker list for the map), each on a short-lived sqlite3 connection so that the threaded web
server never shares one connection between threads.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import shapely

from uav.errors import FlightStoreError, InvalidInputError

from .format import FLAG_STATUSES, parse_gpkg_geometry
from .write import FlightStore

STATUSES = FLAG_STATUSES
# What a reviewer may set.  "new" puts a flag back in the queue (an undo).
DECISIONS = ("confirmed", "rejected", "uncertain", "new")

_SORTS = {
    "score": "f.score",
    "class": "f.class",
    "status": "f.status",
    "time": "fr.time",
    "fid": "f.fid",
    "frame": "fr.name",
}
MAX_PAGE = 500
NOTE_MAX_CHARS = 4000



def _check_decision(status: str, note: str | None) -> None:
    """Refuse an unknown decision or an over-long note before anything is touched."""
    if status not in DECISIONS:
        raise InvalidInputError(f"unknown decision {status!r}; use one of {', '.join(DECISIONS)}")
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise InvalidInputError(f"note is {len(note)} characters long; keep it under {NOTE_MAX_CHARS}")

class FlagNotFoundError(FlightStoreError, LookupError):
    """No flag (or frame) with that id in this flight."""


# --- rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagQuery:
    """Filter, sort and page of a flag list (all optional)."""

    cls: str | None = None
    status: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    frame_fid: int | None = None
    sort: str = "score"
    order: str = "desc"
    offset: int = 0
    limit: int = 100

    def validated(self) -> FlagQuery:
        if self.sort not in _SORTS:
            raise InvalidInputError(f"cannot sort flags by {self.sort!r}; use one of {', '.join(_SORTS)}")
        if self.order not in ("asc", "desc"):
            raise InvalidInputError(f"sort order must be 'asc' or 'desc', not {self.order!r}")
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInputError(f"unknown flag status {self.status!r}; use one of {', '.join(STATUSES)}")
        if self.offset < 0 or not (1 <= self.limit <= MAX_PAGE):
            raise InvalidInputError(f"page must have offset >= 0 and 1 <= limit <= {MAX_PAGE}")
        return self


_FLAG_COLUMNS = (
    "f.fid, f.frame_fid, f.class, f.score, f.detector, f.px_x0, f.px_y0, f.px_x1, f.px_y1, "
    "f.lat, f.lon, f.position_note, f.ground_size_m, f.size_ok, f.status, f.note, f.reviewer, "
    "f.reviewed_at, f.version, f.frame_path, fr.name AS frame_name, fr.time AS time, "
    "fr.sha256 AS frame_sha256, fr.width AS frame_width, fr.height AS frame_height, f.sighting_id, "
    "{f.position_uncertainty_m}"
)


@dataclass(frozen=True)
class SightingQuery:
    """Filter, sort and page of a sighting list (all optional)."""

    cls: str | None = None
    status: str | None = None
    min_score: float | None = None
    sort: str = "score"
    order: str = "desc"
    offset: int = 0
    limit: int = 100

    def validated(self) -> SightingQuery:
        if self.sort not in _SIGHTING_SORTS:
            raise InvalidInputError(f"cannot sort sightings by {self.sort!r}; use one of {', '.join(_SIGHTING_SORTS)}")
        FlagQuery(status=self.status, order=self.order, offset=self.offset, limit=self.limit).validated()
        return self


_SIGHTING_SORTS = {"score": "s.score", "class": "s.class", "status": "s.status", "time": "s.first_time",
                   "fid": "s.fid", "frames": "s.frames_flagged"}
_SIGHTING_COLUMNS = (
    "s.fid, s.uid, s.class, s.score, s.best_score, s.frames_flagged, s.frames_covering, s.consensus, "
    "s.n_flags, s.first_time, s.last_time, s.lat, s.lon, s.positioned, s.position_note, s.moving, "
    "s.spread_m, s.best_flag_fid, s.status, s.note, s.reviewer, s.reviewed_at, s.version, "
    "s.unreviewed_flags, {s.position_uncertainty_m}"
)
# Columns newer than some files that are read without being upgraded (a read changes nothing):
# read as NULL there.
_LATER_COLUMNS = (("flags", "f", "position_uncertainty_m"), ("sightings", "s", "position_uncertainty_m"))
STRIP_MAX = 12   # crops per sighting in the list (the detail has them all)


def _sighting_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["cls"] = d.pop("class")
    d["positioned"] = bool(d["positioned"])
    d["moving"] = bool(d["moving"])
    return d


def _flag_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["cls"] = d.pop("class")
    return d


class FlightDB:
    """One flight GeoPackage, opened for review.

    Parameters
    ----------
    path : str or Path
        The flight's ``.gpkg`` file.  It must hold the ``frames`` and ``flags`` layers.
    """

    def __init__(self, path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FlightStoreError(f"flight GeoPackage not found: {self.path}")
        try:
            with self._reading() as con:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise FlightStoreError(f"{self.path} is not a GeoPackage (sqlite says: {exc})") from None
        missing = {"frames", "flags", "gpkg_contents"} - tables
        if missing:
            raise FlightStoreError(
                f"{self.path} is not a flight GeoPackage: it has no {', '.join(sorted(missing))} table "
                "(make one with `uav process`)")
        if "sightings" not in tables or "sighting_id" not in self._flag_columns():
            self._group()  # a flight processed before sightings existed: group it now
        self.has_track = "track" in tables
        self.has_decisions = "decisions" in tables
        self.has_meta = "flight_meta" in tables
        self._store: FlightStore | None = None
        self._store_lock = threading.Lock()
        self._later_present: set[str] = set()

    def _flag_columns(self) -> set[str]:
        with self._reading() as con:
            return {r[1] for r in con.execute("PRAGMA table_info(flags)")}

    def _columns(self, con, template: str) -> str:
        """``template`` with each later column as itself where the file has it, else NULL."""
        for table, alias, col in _LATER_COLUMNS:
            key = f"{alias}.{col}"
            if key not in self._later_present and col in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
                self._later_present.add(key)   # a column never goes away again
            template = template.replace("{" + key + "}", key if key in self._later_present else f"NULL AS {col}")
        return template

    def _group(self) -> None:
        from .sightings import update_sightings

        with FlightStore.open(self.path) as store:
            update_sightings(store)

    @property
    def cache_dir(self) -> Path:
        """FLIGHT.gpkg.cache/ next to the GeoPackage (thumbnails and crops)."""
        return self.path.with_name(self.path.name + ".cache")

    def connect(self) -> sqlite3.Connection:
        """A new sqlite3 connection (rows as ``sqlite3.Row``); the caller closes it."""
        con = sqlite3.connect(self.path, timeout=15.0)
        con.row_factory = sqlite3.Row
        return con

    @contextmanager
    def _reading(self):
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    # -- flight --------------------------------------------------------------------------
    def summary(self) -> dict:
        """Counts by status and class, extent, time range and metadata of the flight."""
        with self._reading() as con:
            frames = {r[0]: r[1] for r in con.execute("SELECT status, count(*) FROM frames GROUP BY status")}
            by_status = {s: 0 for s in STATUSES}
            by_status.update({r[0]: r[1] for r in con.execute("SELECT status, count(*) FROM flags GROUP BY status")})
            classes = {r[0]: r[1] for r in con.execute("SELECT class, count(*) FROM flags GROUP BY class ORDER BY class")}
            t0, t1 = con.execute("SELECT min(time), max(time) FROM frames").fetchone()
            ext = con.execute(
                "SELECT min(lon), min(lat), max(lon), max(lat) FROM "
                "(SELECT lon, lat FROM frames WHERE lon IS NOT NULL UNION ALL "
                " SELECT lon, lat FROM flags WHERE lon IS NOT NULL)").fetchone()
            meta = {}
            if self.has_meta:
                meta = {r[0]: r[1] for r in con.execute("SELECT key, value FROM flight_meta")}
            no_position = con.execute("SELECT count(*) FROM flags WHERE lat IS NULL OR lon IS NULL").fetchone()[0]
            sensitivity = self._sensitivity(con)
        return {
            "name": self.path.name,
            "frames": {"total": sum(frames.values()), **frames},
            "flags": {"total": sum(by_status.values()), "by_status": by_status, "by_class": classes,
                      "no_position": no_position},
            "time": {"start": t0, "end": t1},
            "bbox": list(ext) if ext[0] is not None else None,
            "has_track": self.has_track,
            "sightings": self.sighting_counts(),
            "meta": meta,
            "sensitivity": sensitivity,
        }

    @staticmethod
    def _sensitivity(con) -> dict:
        """detector -> level -> frames searched at it (the per-frame record; a search made
        before levels were recorded, or at a threshold given outright, is "not recorded")."""
        cols = {r[1] for r in con.execute("PRAGMA table_info(frame_searches)")}
        if "sensitivity" not in cols:
            return {}
        out: dict = {}
        for det, level, n in con.execute("SELECT detector, sensitivity, count(*) FROM frame_searches "
                                         "GROUP BY detector, sensitivity ORDER BY detector"):
            out.setdefault(det, {})[level or "not recorded"] = n
        return out

    def frames_geojson(self) -> dict:
        """Frame footprints as a GeoJSON FeatureCollection (frames without a pose have null geometry)."""
        feats = []
        with self._reading() as con:
            rows = con.execute(
                "SELECT fr.fid, fr.geom, fr.name, fr.time, fr.status, fr.lat, fr.lon, fr.yaw, "
                "(SELECT count(*) FROM flags f WHERE f.frame_fid = fr.fid) AS n_flags "
                "FROM frames fr ORDER BY fr.time, fr.fid")
            for r in rows:
                g = parse_gpkg_geometry(r["geom"])
                feats.append({
                    "type": "Feature",
                    "id": r["fid"],
                    "geometry": shapely.geometry.mapping(g) if g is not None else None,
                    "properties": {k: r[k] for k in ("fid", "name", "time", "status", "lat", "lon", "yaw", "n_flags")},
                })
        return {"type": "FeatureCollection", "features": feats}

    def track_geojson(self) -> dict:
        """The flown track (if the flight has one) as a GeoJSON FeatureCollection."""
        feats = []
        if self.has_track:
            with self._reading() as con:
                for r in con.execute("SELECT fid, geom, source FROM track"):
                    g = parse_gpkg_geometry(r["geom"])
                    if g is not None:
                        feats.append({"type": "Feature", "id": r["fid"], "geometry": shapely.geometry.mapping(g),
                                      "properties": {"source": r["source"]}})
        return {"type": "FeatureCollection", "features": feats}

    # -- flags ---------------------------------------------------------------------------
    def list_flags(self, q: FlagQuery = FlagQuery()) -> dict:
        """A page of flags: ``{"total", "offset", "limit", "items"}``."""
        q = q.validated()
        where, args = [], []
        if q.cls is not None:
            where.append("f.class = ?")
            args.append(q.cls)
        if q.status is not None:
            where.append("f.status = ?")
            args.append(q.status)
        if q.min_score is not None:
            where.append("f.score >= ?")
            args.append(q.min_score)
        if q.max_score is not None:
            where.append("f.score <= ?")
            args.append(q.max_score)
        if q.frame_fid is not None:
            where.append("f.frame_fid = ?")
            args.append(q.frame_fid)
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        # The sort column comes from a whitelist; the fid tie-break keeps pages stable.
        order = f" ORDER BY {_SORTS[q.sort]} {q.order.upper()}, f.fid ASC"
        base = " FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid"
        with self._reading() as con:
            total = con.execute("SELECT count(*)" + base + sql_where, args).fetchone()[0]
            rows = con.execute(f"SELECT {self._columns(con, _FLAG_COLUMNS)}{base}{sql_where}{order} LIMIT ? OFFSET ?",
                               [*args, q.limit, q.offset]).fetchall()
        return {"total": total, "offset": q.offset, "limit": q.limit, "items": [_flag_dict(r) for r in rows]}

    def all_flags(self, status: str | None = None) -> list[dict]:
        """Every flag (optionally of one status), in frame-time order, with its frame's fields."""
        sql = " FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid"
        args: list = []
        if status is not None:
            sql += " WHERE f.status = ?"
            args.append(status)
        sql += " ORDER BY fr.time, f.frame_fid, f.fid"
        with self._reading() as con:
            return [_flag_dict(r) for r in con.execute(f"SELECT {self._columns(con, _FLAG_COLUMNS)}" + sql, args)]

    def markers(self) -> list[list]:
        """Every positioned flag as a compact ``[fid, lon, lat, class, status, score]`` row for the map."""
        with self._reading() as con:
            return [list(r) for r in con.execute(
                "SELECT fid, lon, lat, class, status, score FROM flags WHERE lat IS NOT NULL AND lon IS NOT NULL "
                "ORDER BY fid")]

    def flag(self, fid: int) -> dict:
        """One flag with its frame's fields and its decision history."""
        with self._reading() as con:
            row = con.execute(f"SELECT {self._columns(con, _FLAG_COLUMNS)} FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
                              "WHERE f.fid = ?", (fid,)).fetchone()
            if row is None:
                raise FlagNotFoundError(f"this flight has no flag {fid}")
            d = _flag_dict(row)
            d["history"] = []
            if self.has_decisions:
                d["history"] = [dict(r) for r in con.execute(
                    "SELECT status, note, reviewer, at FROM decisions WHERE flag_fid = ? ORDER BY id", (fid,))]
        return d

    # -- sightings ----------------------------------------------------------------------
    def _sighting_flags(self, con, fids: list[int], limit: int | None = None) -> dict[int, list[dict]]:
        """Each sighting's flags, best first (the strip of views)."""
        out: dict[int, list[dict]] = {f: [] for f in fids}
        if not fids:
            return out
        marks = ",".join("?" * len(fids))
        for r in con.execute(f"SELECT {self._columns(con, _FLAG_COLUMNS)} FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
                             f"WHERE f.sighting_id IN ({marks}) ORDER BY f.score DESC, f.fid", fids):
            lst = out[r["sighting_id"]]
            if limit is None or len(lst) < limit:
                lst.append(_flag_dict(r))
        return out

    def list_sightings(self, q: SightingQuery = SightingQuery()) -> dict:
        """A page of sightings, each with its best flags: ``{"total", "offset", "limit", "items"}``."""
        q = q.validated()
        where, args = [], []
        for sql, val in (("s.class = ?", q.cls), ("s.status = ?", q.status), ("s.score >= ?", q.min_score)):
            if val is not None:
                where.append(sql)
                args.append(val)
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        order = f" ORDER BY {_SIGHTING_SORTS[q.sort]} {q.order.upper()}, s.fid ASC"
        with self._reading() as con:
            total = con.execute("SELECT count(*) FROM sightings s" + sql_where, args).fetchone()[0]
            rows = con.execute(f"SELECT {self._columns(con, _SIGHTING_COLUMNS)} FROM sightings s{sql_where}{order} LIMIT ? OFFSET ?",
                               [*args, q.limit, q.offset]).fetchall()
            items = [_sighting_dict(r) for r in rows]
            flags = self._sighting_flags(con, [s["fid"] for s in items], STRIP_MAX)
        for s in items:
            s["flags"] = flags[s["fid"]]
        return {"total": total, "offset": q.offset, "limit": q.limit, "items": items}

    def all_sightings(self, status: str | None = None) -> list[dict]:
        """Every sighting (optionally of one status), best first, each with all its flags."""
        sql = " FROM sightings s"
        args: list = []
        if status is not None:
            sql += " WHERE s.status = ?"
            args.append(status)
        with self._reading() as con:
            sql = f"SELECT {self._columns(con, _SIGHTING_COLUMNS)}" + sql
            items = [_sighting_dict(r) for r in con.execute(sql + " ORDER BY s.score DESC, s.fid", args)]
            flags = self._sighting_flags(con, [s["fid"] for s in items])
        for s in items:
            s["flags"] = flags[s["fid"]]
        return items

    def sighting(self, fid: int) -> dict:
        """One sighting with all its flags (best first) and its decision history."""
        with self._reading() as con:
            row = con.execute(f"SELECT {self._columns(con, _SIGHTING_COLUMNS)} FROM sightings s WHERE s.fid = ?", (fid,)).fetchone()
            if row is None:
                raise FlagNotFoundError(f"this flight has no sighting {fid}")
            d = _sighting_dict(row)
            d["flags"] = self._sighting_flags(con, [fid])[fid]
            d["history"] = [dict(r) for r in con.execute(
                "SELECT status, note, reviewer, at FROM sighting_decisions WHERE sighting_fid = ? ORDER BY id", (fid,))]
        return d

    def sighting_markers(self) -> list[list]:
        """Every positioned sighting as ``[fid, lon, lat, class, status, score, frames_flagged]``."""
        with self._reading() as con:
            return [list(r) for r in con.execute(
                "SELECT fid, lon, lat, class, status, score, frames_flagged FROM sightings "
                "WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY fid")]

    def sighting_counts(self) -> dict:
        with self._reading() as con:
            by_status = {s: 0 for s in STATUSES}
            by_status.update({r[0]: r[1] for r in con.execute("SELECT status, count(*) FROM sightings GROUP BY status")})
        return {"total": sum(by_status.values()), "by_status": by_status}

    def decide_sighting(self, fid: int, status: str, note: str | None, reviewer: str | None,
                        expected_version: int) -> dict:
        """Decide sighting ``fid`` and all its flags at once (see :func:`decide_sighting`)."""
        from .sightings import decide_sighting

        _check_decision(status, note)
        self.sighting(fid)
        with self._writer() as store:
            decide_sighting(store, fid, status, note, reviewer, expected_version)
        return self.sighting(fid)

    def decide_flag_of_sighting(self, fid: int, flag_fid: int, status: str, note: str | None,
                                reviewer: str | None, expected_version: int) -> dict:
        """Decide one flag of sighting ``fid`` alone, splitting it off when rejected or uncertain
        (:mod:`.sighting_review`); returns the sighting as it is now, with ``split_to``."""
        from .sighting_review import decide_flag_of_sighting

        _check_decision(status, note)
        self.sighting(fid)
        with self._writer() as store:
            split_to = decide_flag_of_sighting(store, fid, flag_fid, status, note, reviewer,
                                               expected_version)
        out = self.sighting(fid)
        out["split_to"] = split_to
        return out

    # -- frames --------------------------------------------------------------------------
    def frame(self, fid: int) -> dict:
        """One frame's row (no geometry blob) plus the fids of its neighbours in time."""
        with self._reading() as con:
            row = con.execute(
                "SELECT fid, path, name, sha256, time, lat, lon, alt_rel, yaw, gsd_m, width, height, thermal, "
                "status, error FROM frames WHERE fid = ?", (fid,)).fetchone()
            if row is None:
                raise FlagNotFoundError(f"this flight has no frame {fid}")
            d = dict(row)
            # Neighbours in capture order (time, then fid for frames without a time).
            key = (d["time"] or "", d["fid"])
            prev = con.execute(
                "SELECT fid FROM frames WHERE (coalesce(time, ''), fid) < (?, ?) "
                "ORDER BY coalesce(time, '') DESC, fid DESC LIMIT 1", key).fetchone()
            nxt = con.execute(
                "SELECT fid FROM frames WHERE (coalesce(time, ''), fid) > (?, ?) "
                "ORDER BY coalesce(time, '') ASC, fid ASC LIMIT 1", key).fetchone()
            d["prev_fid"] = prev[0] if prev else None
            d["next_fid"] = nxt[0] if nxt else None
            d["flags"] = [_flag_dict(r) for r in con.execute(
                f"SELECT {self._columns(con, _FLAG_COLUMNS)} FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
                "WHERE f.frame_fid = ? ORDER BY f.score DESC", (fid,))]
        return d

    def frame_file(self, fid: int) -> tuple[Path, str | None]:
        """The original file of frame ``fid`` (looked up by id, never from a client path) and its sha256."""
        with self._reading() as con:
            row = con.execute("SELECT path, sha256 FROM frames WHERE fid = ?", (fid,)).fetchone()
        if row is None:
            raise FlagNotFoundError(f"this flight has no frame {fid}")
        return Path(row["path"]), row["sha256"]

    # -- decisions -----------------------------------------------------------------------
    def decide(self, fid: int, status: str, note: str | None, reviewer: str | None,
               expected_version: int) -> dict:
        """Record a reviewer's decision on flag ``fid`` at once (flags row + decisions history).

        Raises
        ------
        ReviewConflictError
            The flag's version is no longer ``expected_version`` (someone decided meanwhile).
        FlagNotFoundError
            No such flag.
        InvalidInputError
            Unknown status, or a note that is too long.
        """
        _check_decision(status, note)
        self.flag(fid)  # a clear "no flag N" before touching anything
        with self._writer() as store:
            # The store checks the version and writes the flags row and the history row in one
            # IMMEDIATE transaction, so two tabs deciding at once cannot both win.
            store.set_decision(fid, status, note, reviewer, expected_version)
        return self.flag(fid)

    @contextmanager
    def _writer(self):
        """The one writer connection, opened on the first decision, held under the lock."""
        with self._store_lock:
            if self._store is None:
                self._store = FlightStore.open(self.path)
            yield self._store

    def close(self) -> None:
        """Close the writer connection (reads use short-lived connections)."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None


__all__ = ["DECISIONS", "FlagNotFoundError", "FlagQuery", "FlightDB", "SightingQuery"]
