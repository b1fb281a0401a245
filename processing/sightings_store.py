"""The ``sightings`` layer of a flight GeoPackage: grouped, kept up to date, decided.

:func:`update_sightings` regroups every flag of the flight (cheap: 100,000 flags in about a
second) and then reconciles the result with the sightings already stored, so that re-running
``uav process`` (resume, ``--watch``) never loses a decision:

* a new group takes over the stored sighting that holds most of its flags: same id, same stable
  ``uid``, same status, note and reviewer; flags that joined it since are counted as
  ``unreviewed_flags``;
* when a new flag bridges two decided sightings and they disagreed, the merged one becomes
  ``uncertain`` and its note says what each was;
* a group of flags seen for the first time gets a ``uid`` made from its first flag's frame hash,
  class and pixel box, so processing the same frames again names the same sightings.

Every sighting decision is also appended to ``sighting_decisions`` and, for each of its flags,
to ``decisions``.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from dataclasses import dataclass, field

import numpy as np
import shapely

from uav.errors import FlightStoreError, InvalidInputError, ReviewConflictError

from .sightings import FlagTable, FrameCover, Grouping, group_flags, parse_time_s
from .store import FLAG_STATUSES, FlightStore, gpkg_geometry, parse_gpkg_geometry

__all__ = ["SightingsUpdate", "SightingAlert", "update_sightings", "read_flag_table",
           "read_frame_cover", "decide_sighting", "ensure_sightings_layer", "MATERIAL_SCORE_CHANGE"]

# An alert is repeated when a sighting's score moves by at least this much (or crosses the
# "likely" line): a seventh photo of a known fire is no news, a second photo of a lone flash is.
MATERIAL_SCORE_CHANGE = 0.15
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "amur-uav.sightings")

SIGHTINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sightings (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, uid TEXT UNIQUE NOT NULL, class TEXT NOT NULL,
  score REAL, best_score REAL, frames_flagged INTEGER, frames_covering INTEGER, consensus REAL,
  n_flags INTEGER, first_time TEXT, last_time TEXT, lat REAL, lon REAL, positioned INTEGER,
  position_note TEXT, moving INTEGER, spread_m REAL, best_flag_fid INTEGER,
  status TEXT NOT NULL DEFAULT 'new', note TEXT, reviewer TEXT, reviewed_at TEXT,
  version INTEGER NOT NULL DEFAULT 0, unreviewed_flags INTEGER NOT NULL DEFAULT 0, updated_at TEXT);
CREATE INDEX IF NOT EXISTS sightings_status ON sightings(status);
CREATE TABLE IF NOT EXISTS sighting_decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, sighting_fid INTEGER, uid TEXT, status TEXT, note TEXT,
  reviewer TEXT, at TEXT);
"""
SIGHTINGS_CONTENTS = [
    ("sightings", "features", "sightings", "Objects: the flags of one object grouped, with "
     "multi-view consensus and the review decision", "POINT"),
    ("sighting_decisions", "attributes", "sighting_decisions", "History of sighting decisions", None),
]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SightingAlert:
    """Something an analyst watching a flight should hear about once."""

    kind: str                  # "new" or "changed"
    fid: int
    cls: str
    score: float
    lat: float | None
    lon: float | None
    frames_flagged: int
    frames_covering: int
    previous_score: float | None = None

    def __str__(self) -> str:
        where = f"{self.lat:.6f}, {self.lon:.6f}" if self.lat is not None else "no map position"
        head = "SIGHTING" if self.kind == "new" else "SIGHTING CHANGED"
        was = f" (was {self.previous_score:.2f})" if self.previous_score is not None else ""
        return (f"{head} #{self.fid} {self.cls} {self.score:.2f}{was} at {where}, "
                f"flagged in {self.frames_flagged} of {self.frames_covering} frame(s) over it")


@dataclass
class SightingsUpdate:
    """What :func:`update_sightings` did."""

    total: int = 0
    flags: int = 0
    by_class: dict = field(default_factory=dict)
    likely: int = 0                                   # score >= LIKELY_SCORE
    alerts: list[SightingAlert] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.total:
            return "sightings: none"
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_class.items()))
        return (f"sightings: {self.total} ({parts}) from {self.flags} flags; "
                f"{self.likely} seen in most photos over them")


def ensure_sightings_layer(store: FlightStore) -> None:
    """Add the ``sightings`` layer (and ``sighting_decisions``) to a flight GeoPackage."""
    store.add_layer(SIGHTINGS_SCHEMA, SIGHTINGS_CONTENTS)


# --- reading ------------------------------------------------------------------------------------
def read_flag_table(store: FlightStore):
    """Every flag of the flight as a :class:`FlagTable`, with its stored sighting, status and
    frame time text (in the same order)."""
    rows = store._query(
        "SELECT f.fid, f.frame_fid, f.class, f.score, f.lon, f.lat, fr.time, fr.alt_rel, fr.pitch, "
        "fr.gsd_m, f.sighting_id, f.status FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
        "ORDER BY f.fid")
    times = {}
    out = []
    for r in rows:
        t = r[6]
        if t not in times:
            times[t] = parse_time_s(t)
        pitch = r[8]
        out.append((r[0], r[1], r[2], r[3], r[4], r[5], times[t], r[7],
                    None if pitch is None else 90.0 - abs(pitch), r[9]))
    table = FlagTable.from_rows(out)
    prev = np.array([-1 if r[10] is None else r[10] for r in rows], np.int64)
    status = np.array([r[11] for r in rows], object)
    time_text = [r[6] for r in rows]
    return table, prev, status, time_text


def read_frame_cover(store: FlightStore) -> FrameCover:
    """The georeferenced frames' footprints, for counting which frames saw a sighting."""
    rows = store._query("SELECT fid, geom, thermal FROM frames WHERE status = 'done' AND geom IS NOT NULL")
    return FrameCover(fid=np.array([r[0] for r in rows], np.int64),
                      footprint=np.array([parse_gpkg_geometry(r[1]) for r in rows], object),
                      thermal=np.array([bool(r[2]) for r in rows], bool))


# --- reconciling --------------------------------------------------------------------------------
_OLD_COLS = ("fid", "uid", "class", "score", "status", "note", "reviewer", "reviewed_at", "version",
             "best_score")


def _match(grouping: Grouping, prev: np.ndarray) -> dict[int, int]:
    """Group index -> stored sighting fid that holds most of its flags (each used once)."""
    has = prev >= 0
    if not has.any():
        return {}
    pairs, counts = np.unique(np.stack([grouping.label[has], prev[has]]), axis=1, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    out: dict[int, int] = {}
    used: set[int] = set()
    for k in order.tolist():
        g, old = int(pairs[0, k]), int(pairs[1, k])
        if g in out or old in used:
            continue
        out[g] = old
        used.add(old)
    return out


def _new_uid(con, sighting) -> str:
    row = con.execute("SELECT fr.sha256, f.frame_path, f.px_x0, f.px_y0, f.px_x1, f.px_y1 FROM flags f "
                      "LEFT JOIN frames fr ON fr.fid = f.frame_fid WHERE f.fid = ?",
                      (min(sighting.flag_fids),)).fetchone()
    anchor = row[0] or f"path:{row[1]}"
    box = ",".join(f"{float(v or 0):.0f}" for v in row[2:])
    return str(uuid.uuid5(NAMESPACE, f"{anchor}|{sighting.cls}|{box}"))


def update_sightings(store: FlightStore) -> SightingsUpdate:
    """Regroup the flight's flags and store the sightings, keeping every decision made.

    Returns the counts and the alerts: sightings that are new, and sightings whose score moved
    materially since the last update.
    """
    import time

    from .sightings import LIKELY_SCORE

    t0 = time.perf_counter()
    ensure_sightings_layer(store)
    table, prev, flag_status, time_text = read_flag_table(store)
    grouping = group_flags(table, read_frame_cover(store))
    fid_pos = {int(f): k for k, f in enumerate(table.fid.tolist())}
    match = _match(grouping, prev)
    cols = ", ".join(_OLD_COLS)
    old = {r[0]: dict(zip(_OLD_COLS, r)) for r in store._query(f"SELECT {cols} FROM sightings")}
    res = SightingsUpdate(flags=len(table))
    now = _now()
    with store._tx() as con:
        keep: set[int] = set()
        assigned = np.full(len(table), -1, np.int64)
        for g, s in enumerate(grouping.sightings):
            members = [fid_pos[f] for f in s.flag_fids]
            olds = {int(prev[m]) for m in members if prev[m] >= 0 and int(prev[m]) in old}
            fid = match.get(g)
            if fid is not None and fid not in old:
                fid = None
            base = old.get(fid) if fid is not None else None
            status, note, reviewer, reviewed_at = "new", None, None, None
            if base is not None:
                status, note, reviewer, reviewed_at = (base["status"], base["note"], base["reviewer"],
                                                       base["reviewed_at"])
                others = {old[o]["status"] for o in olds - {fid} if old[o]["status"] != "new"}
                if status != "new" and others - {status}:
                    what = ", ".join(f"#{o} {old[o]['status']}" for o in sorted(olds - {fid}))
                    note = "; ".join(x for x in (note, f"merged with sighting(s) {what}: decide again") if x)
                    status = "uncertain"
                elif status == "new" and len(others) == 1:
                    status = next(iter(others))
            else:
                decided = {flag_status[m] for m in members}
                if len(decided) == 1 and next(iter(decided)) != "new":
                    status = next(iter(decided))
            unreviewed = sum(1 for m in members if flag_status[m] == "new") if status != "new" else 0
            times = [(table.time_s[m], time_text[m]) for m in members if math.isfinite(table.time_s[m])]
            first = min(times)[1] if times else None
            last = max(times)[1] if times else None
            geom = gpkg_geometry(shapely.Point(s.lon, s.lat)) if s.positioned else None
            row = dict(geom=geom, cls=s.cls, score=s.score, best_score=round(s.best_score, 4),
                       frames_flagged=s.frames_flagged, frames_covering=s.frames_covering,
                       consensus=round(s.consensus, 4), n_flags=len(s.flag_fids), first_time=first,
                       last_time=last, lat=s.lat, lon=s.lon, positioned=int(s.positioned),
                       position_note=None if s.positioned else "the frame has no map position",
                       moving=int(s.moving), spread_m=s.spread_m, best_flag_fid=s.best_flag,
                       status=status, note=note, reviewer=reviewer, reviewed_at=reviewed_at,
                       unreviewed_flags=unreviewed, updated_at=now)
            names = [("class" if k == "cls" else k) for k in row]
            if base is not None:
                con.execute(f"UPDATE sightings SET {', '.join(n + ' = ?' for n in names)} WHERE fid = ?",
                            (*row.values(), fid))
                moved = abs(s.score - (base["score"] or 0.0)) >= MATERIAL_SCORE_CHANGE or (
                    (s.score >= LIKELY_SCORE) != ((base["score"] or 0.0) >= LIKELY_SCORE))
                if moved:
                    res.alerts.append(SightingAlert("changed", fid, s.cls, s.score, s.lat, s.lon,
                                                    s.frames_flagged, s.frames_covering, base["score"]))
            else:
                uid = _new_uid(con, s)
                clash = con.execute("SELECT fid FROM sightings WHERE uid = ?", (uid,)).fetchone()
                if clash is not None and clash[0] not in keep and clash[0] not in match.values():
                    fid = clash[0]  # its old flags were re-processed: the same object again
                    con.execute(f"UPDATE sightings SET {', '.join(n + ' = ?' for n in names)} WHERE fid = ?",
                                (*row.values(), fid))
                else:
                    if clash is not None:
                        uid = str(uuid.uuid5(NAMESPACE, f"{uid}|{min(s.flag_fids)}"))
                    cur = con.execute(f"INSERT INTO sightings (uid, {', '.join(names)}) VALUES "
                                      f"(?, {', '.join('?' * len(names))})", (uid, *row.values()))
                    fid = cur.lastrowid
                    res.alerts.append(SightingAlert("new", fid, s.cls, s.score, s.lat, s.lon,
                                                    s.frames_flagged, s.frames_covering))
            keep.add(fid)
            assigned[members] = fid
            res.by_class[s.cls] = res.by_class.get(s.cls, 0) + 1
            res.likely += s.score >= LIKELY_SCORE
        gone = set(old) - keep
        if gone:
            con.executemany("DELETE FROM sightings WHERE fid = ?", [(f,) for f in sorted(gone)])
        changed = np.nonzero(assigned != prev)[0]
        con.executemany("UPDATE flags SET sighting_id = ? WHERE fid = ?",
                        [(int(assigned[k]), int(table.fid[k])) for k in changed.tolist()])
    res.total = len(grouping.sightings)
    res.seconds = time.perf_counter() - t0
    return res


# --- deciding -----------------------------------------------------------------------------------
def decide_sighting(store: FlightStore, fid: int, status: str, note: str | None = None,
                    reviewer: str | None = None, expected_version: int | None = None) -> int:
    """Decide a sighting and every flag of it in one transaction; returns its new version.

    ``expected_version`` is the sighting's version the reviewer saw: if someone decided since,
    :class:`ReviewConflictError` is raised and nothing changes.
    """
    if status not in FLAG_STATUSES:
        raise InvalidInputError(f"a decision must be one of {', '.join(FLAG_STATUSES)}; got {status!r}")
    at = _now()
    with store._tx() as con:
        row = con.execute("SELECT version, uid FROM sightings WHERE fid = ?", (fid,)).fetchone()
        if row is None:
            raise FlightStoreError(f"this flight has no sighting {fid}")
        if expected_version is not None and row[0] != expected_version:
            raise ReviewConflictError(
                f"sighting {fid} was changed by someone else (now version {row[0]}, your decision was "
                f"based on version {expected_version}); reload it and decide again")
        version = row[0] + 1
        con.execute("UPDATE sightings SET status=?, note=?, reviewer=?, reviewed_at=?, version=?, "
                    "unreviewed_flags=0 WHERE fid=?", (status, note, reviewer, at, version, fid))
        con.execute("INSERT INTO sighting_decisions (sighting_fid, uid, status, note, reviewer, at) "
                    "VALUES (?,?,?,?,?,?)", (fid, row[1], status, note, reviewer, at))
        flag_fids = [r[0] for r in con.execute("SELECT fid FROM flags WHERE sighting_id = ?", (fid,))]
        con.executemany("UPDATE flags SET status=?, note=?, reviewer=?, reviewed_at=?, version=version+1 "
                        "WHERE fid=?", [(status, note, reviewer, at, f) for f in flag_fids])
        con.executemany("INSERT INTO decisions (flag_fid, status, note, reviewer, at) VALUES (?,?,?,?,?)",
                        [(f, status, note, reviewer, at) for f in flag_fids])
    return version
