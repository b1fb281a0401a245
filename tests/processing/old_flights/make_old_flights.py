"""How the flight GeoPackages in this folder were made: each by the amur-uav version it is named
after, from that version's own code, so the upgrade is tested on files as users have them.

    git archive COMMIT processing uav missions simulators | tar -x -C /tmp/old-COMMIT
    PYTHONPATH=/tmp/old-COMMIT .venv/bin/python tests/processing/old_flights/make_old_flights.py OUT.gpkg

Commits: 4ffcc4b (first release: no sightings, no search record), ab84678 (sightings; no
search record, no look/apart), 6cccc78 (search record and split flags; flight_meta still keyed
by TEXT).  Each holds three frames with footprints, one without a pose, one failed; flags of
three classes; decisions on flags (and, where the version had them, on a sighting); a track;
the flight's metadata.  Not run by the tests: the files are the fixtures.
"""

from __future__ import annotations

import inspect
import sqlite3
import sys

import shapely

from processing.store import FlagRecord, FlightStore, FrameRecord

LON, LAT = 131.245, 43.0974


def _square(lon, lat, d=0.0006):
    return shapely.Polygon([(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)])


def main(out: str) -> None:
    more = "searches" in inspect.signature(FlightStore.add_frame_result).parameters
    with FlightStore.create(out) as store:
        store.set_meta("detectors", "fire,smoke,vehicle")
        store.set_meta("camera", "mavic3e-wide")
        for i in range(3):
            lon, lat = LON + 0.0008 * i, LAT
            frame = FrameRecord(path=f"/data/flight7/DJI_{i + 1:04d}.JPG", sha256=f"{i:02d}" * 32,
                                time=f"2024-04-20T10:00:{10 * i:02d}Z", lat=lat, lon=lon, alt_rel=100.0,
                                yaw=0.0, pitch=-90.0, roll=0.0, pose_source="xmp", gsd_m=0.027,
                                width=5280, height=3956, footprint=_square(lon, lat))
            flags = [FlagRecord(cls="smoke", score=0.8 - 0.1 * i, px_x0=100, px_y0=100, px_x1=400,
                                px_y1=300, detector="fire-smoke", lat=LAT + 0.0001, lon=LON + 0.0008,
                                ground_size_m=8.0, size_ok=True),
                     FlagRecord(cls="vehicle", score=0.6, px_x0=2000, px_y0=1500, px_x1=2150,
                                px_y1=1580, detector="vehicle", lat=lat - 0.0002, lon=lon + 0.0002,
                                ground_size_m=4.5, size_ok=True)]
            if more:
                from processing.store import SearchRecord
                store.add_frame_result(frame, flags, [SearchRecord(d, f"{d}.onnx 0123456789ab", 0.3)
                                                      for d in ("fire-smoke", "vehicle")])
            else:
                store.add_frame_result(frame, flags)
        store.add_frame_result(FrameRecord(path="/data/flight7/DJI_0004.JPG", status="no_pose", width=5280,
                                           height=3956),
                               [FlagRecord(cls="fire", score=0.7, px_x0=10, px_y0=10, px_x1=60, px_y1=50,
                                           detector="fire-smoke", position_note="frame has no GPS")])
        store.add_frame_result(FrameRecord(path="/data/flight7/DJI_0005.JPG", status="failed",
                                           error="not a JPEG (truncated)"))
        store.add_track([(LON - 0.001, LAT), (LON + 0.003, LAT), (LON + 0.003, LAT + 0.001)], "tlog")
        flags = store.flags()
        store.set_decision(flags[1].fid, "confirmed", "ranger's UAZ", "Ivanova")
        store.set_decision(flags[3].fid, "rejected", "a shadow", "Ivanova")
        store.set_decision(flags[-1].fid, "uncertain", None, "Petrov")
        try:
            from processing.store.sightings import decide_sighting, update_sightings
        except ImportError:  # the first release had no sightings
            return
        update_sightings(store)
        smoke = store._query("SELECT fid FROM sightings WHERE class = 'smoke'")[0][0]
        decide_sighting(store, smoke, "confirmed", "grass fire, team 2 sent", "Ivanova")
    con = sqlite3.connect(out)
    con.execute("VACUUM")
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
