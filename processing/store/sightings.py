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

import math
import uuid
from dataclasses import dataclass, field

import numpy as np
import shapely

from uav.errors import FlightStoreError, InvalidInputError, ReviewConflictError

from ..sightings import FlagTable, FrameCover, Grouping, group_flags, parse_time_s
from .format import FLAG_STATUSES, _now, gpkg_geometry, parse_gpkg_geometry
from .write import FlightStore, record_flag_decisions

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
  version INTEGER NOT NULL DEFAULT 0, unreviewed_flags INTEGER NOT NULL DEFAULT 0, updated_at TEXT,
  position_uncertainty_m REAL);
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
        "fr.gsd_m, f.sighting_id, f.status, f.look, f.ground_size_m, f.apart, f.position_uncertainty_m FROM flags f "
        "LEFT JOIN frames fr ON fr.fid = f.frame_fid ORDER BY f.fid")
    times = {}
    out = []
    for r in rows:
        t = r[6]
        if t not in times:
            times[t] = parse_time_s(t)
        pitch = r[8]
        out.append((r[0], r[1], r[2], r[3], r[4], r[5], times[t], r[7],
                    None if pitch is None else 90.0 - abs(pitch), r[9], r[12], r[13]))
    table = FlagTable.from_rows(out)
    table.track = _image_tracks(store, table)
    table.apart = np.array([bool(r[14]) for r in rows], bool)
    table.uncertainty_m = np.array([np.nan if r[15] is None else r[15] for r in rows], float)
    prev = np.array([-1 if r[10] is None else r[10] for r in rows], np.int64)
    status = np.array([r[11] for r in rows], object)
    time_text = [r[6] for r in rows]
    return table, prev, status, time_text


def _image_tracks(store: FlightStore, table: FlagTable) -> np.ndarray:
    """Per flag, its image-space track when it has no map position (-1 otherwise)."""
    from ..image_tracks import ImageFlag, track_in_image

    out = np.full(len(table), -1, np.int64)
    lone = ~(np.isfinite(table.lon) & np.isfinite(table.lat))
    if not lone.any():
        return out
    rows = store._query("SELECT f.fid, f.frame_fid, f.class, f.px_x0, f.px_y0, f.px_x1, f.px_y1, f.look, "
                        "fr.path, fr.time FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
                        "WHERE (f.lat IS NULL OR f.lon IS NULL) AND NOT f.apart")
    flags = [ImageFlag(*(v if v is not None else 0.0 for v in r[:7]), look=r[7]) for r in rows]
    frames = {r[1]: (r[8] or "", parse_time_s(r[9]) if r[9] else None) for r in rows}
    tracks = track_in_image(flags, frames)
    pos = {f: k for k, f in enumerate(table.fid.tolist())}
    for fid, k in tracks.items():
        out[pos[fid]] = k
    return out


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


def _anchors(con, fids: list[int]) -> dict[int, str]:
    """A stable name for each of these flags: its frame's hash (or path), class and pixel box."""
    out = {}
    for k in range(0, len(fids), 900):  # sqlite's limit on bound values
        part = fids[k:k + 900]
        for r in con.execute("SELECT f.fid, fr.sha256, f.frame_path, f.class, f.px_x0, f.px_y0, f.px_x1, f.px_y1 "
                             "FROM flags f LEFT JOIN frames fr ON fr.fid = f.frame_fid "
                             f"WHERE f.fid IN ({','.join('?' * len(part))})", part):
            box = ",".join(f"{float(v or 0):.0f}" for v in r[4:])
            out[r[0]] = str(uuid.uuid5(NAMESPACE, f"{r[1] or 'path:' + str(r[2])}|{r[3]}|{box}"))
    return out


def _inherit(s, members, prev, old, fid, flag_status):
    """Status, note, reviewer and review time a regrouped sighting keeps (see the module doc)."""
    olds = {int(prev[m]) for m in members if prev[m] >= 0 and int(prev[m]) in old}
    base = old.get(fid)
    if base is None:
        decided = {flag_status[m] for m in members}
        status = next(iter(decided)) if len(decided) == 1 else "new"
        return status, None, None, None
    status, note, reviewer, reviewed_at = base["status"], base["note"], base["reviewer"], base["reviewed_at"]
    others = {old[o]["status"] for o in olds - {fid} if old[o]["status"] != "new"}
    if status != "new" and others - {status}:
        what = ", ".join(f"#{o} {old[o]['status']}" for o in sorted(olds - {fid}))
        note = "; ".join(x for x in (note, f"merged with sighting(s) {what}: decide again") if x)
        status = "uncertain"
    elif status == "new" and len(others) == 1:
        status = next(iter(others))
    return status, note, reviewer, reviewed_at


_ROW = ("geom", "class", "score", "best_score", "frames_flagged", "frames_covering", "consensus", "n_flags",
        "first_time", "last_time", "lat", "lon", "positioned", "position_note", "moving", "spread_m",
        "best_flag_fid", "status", "note", "reviewer", "reviewed_at", "unreviewed_flags", "updated_at",
        "position_uncertainty_m")


def update_sightings(store: FlightStore) -> SightingsUpdate:
    """Regroup the flight's flags and store the sightings, keeping every decision made.

    Returns the counts and the alerts: sightings that are new, and sightings whose score moved
    materially since the last update.
    """
    import time

    from ..sightings import LIKELY_SCORE

    t0 = time.perf_counter()
    ensure_sightings_layer(store)
    table, prev, flag_status, time_text = read_flag_table(store)
    grouping = group_flags(table, read_frame_cover(store))
    fid_pos = {f: k for k, f in enumerate(table.fid.tolist())}
    match = {g: f for g, f in _match(grouping, prev).items()}
    old = {r[0]: dict(zip(_OLD_COLS, r)) for r in store._query(f"SELECT {', '.join(_OLD_COLS)} FROM sightings")}
    match = {g: f for g, f in match.items() if f in old}
    uid_fid = {v["uid"]: f for f, v in old.items()}
    res = SightingsUpdate(flags=len(table))
    now = _now()
    time_s = table.time_s.tolist()
    updates, inserts = [], []
    assigned = np.full(len(table), -1, np.int64)
    with store._tx() as con:
        anchors = _anchors(con, [min(s.flag_fids) for g, s in enumerate(grouping.sightings) if g not in match])
        taken = set(match.values())
        seq = con.execute("SELECT max(fid) FROM sightings").fetchone()[0] or 0
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'sightings'").fetchone()
        next_fid = max(seq, row[0] if row else 0) + 1
        for g, s in enumerate(grouping.sightings):
            members = [fid_pos[f] for f in s.flag_fids]
            fid = match.get(g)
            uid = None
            if fid is None:
                uid = anchors[min(s.flag_fids)]
                clash = uid_fid.get(uid)
                if clash is not None and clash not in taken:
                    fid = clash   # its flags were processed again: the same object again
                else:
                    while uid in uid_fid:   # two boxes alike in one frame: tell them apart
                        uid = str(uuid.uuid5(NAMESPACE, f"{uid}|{min(s.flag_fids)}"))
            taken.add(fid)
            status, note, reviewer, reviewed_at = _inherit(s, members, prev, old, fid, flag_status)
            unreviewed = sum(1 for m in members if flag_status[m] == "new") if status != "new" else 0
            times = [(time_s[m], time_text[m]) for m in members if math.isfinite(time_s[m])]
            values = (gpkg_geometry(shapely.Point(s.lon, s.lat)) if s.positioned else None, s.cls, s.score,
                      round(s.best_score, 4), s.frames_flagged, s.frames_covering, round(s.consensus, 4),
                      len(s.flag_fids), min(times)[1] if times else None, max(times)[1] if times else None,
                      s.lat, s.lon, int(s.positioned), None if s.positioned else "the frame has no map position",
                      int(s.moving), s.spread_m, s.best_flag, status, note, reviewer, reviewed_at, unreviewed, now,
                      s.uncertainty_m)
            base = old.get(fid)
            if base is not None:
                updates.append((*values, fid))
                was = base["score"] or 0.0
                if abs(s.score - was) >= MATERIAL_SCORE_CHANGE or (s.score >= LIKELY_SCORE) != (was >= LIKELY_SCORE):
                    res.alerts.append(SightingAlert("changed", fid, s.cls, s.score, s.lat, s.lon,
                                                    s.frames_flagged, s.frames_covering, was))
            else:
                fid = next_fid
                next_fid += 1
                inserts.append((fid, uid, *values))
                uid_fid[uid] = fid
                taken.add(fid)
                res.alerts.append(SightingAlert("new", fid, s.cls, s.score, s.lat, s.lon,
                                                s.frames_flagged, s.frames_covering))
            assigned[members] = fid
            res.by_class[s.cls] = res.by_class.get(s.cls, 0) + 1
            res.likely += s.score >= LIKELY_SCORE
        gone = sorted(set(old) - taken)
        con.executemany("DELETE FROM sightings WHERE fid = ?", [(f,) for f in gone])
        con.executemany(f"UPDATE sightings SET {', '.join(c + ' = ?' for c in _ROW)} WHERE fid = ?", updates)
        con.executemany(f"INSERT INTO sightings (fid, uid, {', '.join(_ROW)}) VALUES "
                        f"({', '.join('?' * (len(_ROW) + 2))})", inserts)
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
        record_flag_decisions(con, flag_fids, status, note, reviewer, at)
    return version
