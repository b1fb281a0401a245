"""One flag of a sighting decided on its own: the analyst's answer to a sighting that joined
things which are not one object (a parked car and, in another photo, two portable toilets).

Accepting a flag records the decision on that flag only; it stays evidence of its sighting.
Rejecting it (or calling it uncertain) also splits it off: it is marked ``apart``, so no regrouping
ever joins it to anything again, and it becomes a sighting of its own carrying that decision.
The sighting it left is regrouped without it (its position no longer pulled towards the flag)
and keeps its own decision.
"""

from __future__ import annotations

from uav.errors import FlightStoreError, InvalidInputError, ReviewConflictError

from .format import FLAG_STATUSES, _now
from .sightings import update_sightings
from .write import FlightStore, record_flag_decisions

__all__ = ["decide_flag_of_sighting"]


def decide_flag_of_sighting(store: FlightStore, sighting_fid: int, flag_fid: int, status: str,
                            note: str | None = None, reviewer: str | None = None,
                            expected_version: int | None = None) -> int | None:
    """Decide one flag of sighting ``sighting_fid``; returns the fid of the sighting it was split
    into (``None`` when it stays: accepted, or the sighting's only flag).

    ``expected_version`` is the sighting's version the reviewer saw (:class:`ReviewConflictError`
    when someone decided since; nothing changes).
    """
    if status not in FLAG_STATUSES:
        raise InvalidInputError(f"a decision must be one of {', '.join(FLAG_STATUSES)}; got {status!r}")
    split = False
    with store._tx() as con:
        row = con.execute("SELECT version FROM sightings WHERE fid = ?", (sighting_fid,)).fetchone()
        if row is None:
            raise FlightStoreError(f"this flight has no sighting {sighting_fid}")
        if expected_version is not None and row[0] != expected_version:
            raise ReviewConflictError(
                f"sighting {sighting_fid} was changed by someone else (now version {row[0]}, your decision "
                f"was based on version {expected_version}); reload it and decide again")
        members = [r[0] for r in con.execute("SELECT fid FROM flags WHERE sighting_id = ?", (sighting_fid,))]
        if flag_fid not in members:
            raise InvalidInputError(f"flag {flag_fid} is not part of sighting {sighting_fid} (any more); "
                                   "reload the page")
        record_flag_decisions(con, [flag_fid], status, note, reviewer, _now())
        split = status in ("rejected", "uncertain") and len(members) > 1
        if split:
            con.execute("UPDATE flags SET apart = 1 WHERE fid = ?", (flag_fid,))
        con.execute("UPDATE sightings SET version = version + 1 WHERE fid = ?", (sighting_fid,))
    if not split:
        return None
    update_sightings(store)
    rows = store._query("SELECT sighting_id FROM flags WHERE fid = ?", (flag_fid,))
    return rows[0][0] if rows else None
