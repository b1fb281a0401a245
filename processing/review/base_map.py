"""The park's own map under the review map, offline (``/api/base-map``, ``/api/base-map/image``).

Which file: the one given to ``uav review --base-map``, else the one a previous ``--base-map``
recorded in the GeoPackage (``flight_meta`` key ``base_map``, as ``uav mosaic`` records its
mosaic).  Never a path from a request.  A file given on the command line is checked before the
server starts, and any problem stops it with a message; a recorded one that has since gone or
broken only leaves the page's toggle off, saying why, so an old flight still opens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from uav.errors import BaseMapError
from uav.files import write_atomic

from .base_map_picture import BASE_PX, Area, render_base_map

__all__ = ["BaseMapLayer", "flight_bounds"]

log = logging.getLogger(__name__)
META_KEY = "base_map"


def flight_bounds(db) -> tuple[float, float, float, float] | None:
    """West, south, east, north of the frames' footprints (else of the frames and flags)."""
    xs, ys = [], []
    for ft in db.frames_geojson()["features"]:
        g = ft.get("geometry")
        if g and g.get("type") == "Polygon":
            for lon, lat in g["coordinates"][0]:
                xs.append(lon)
                ys.append(lat)
    if xs:
        return min(xs), min(ys), max(xs), max(ys)
    bbox = db.summary()["bbox"]
    return tuple(bbox) if bbox else None


def _where(bounds) -> str:
    west, south, east, north = bounds
    return f"{(south + north) / 2:.4f}, {(west + east) / 2:.4f}"


class BaseMapLayer:
    def __init__(self, db, explicit=None):
        self.db, self.explicit = db, explicit
        self._info: dict = {"available": False, "why": "no base map: start the review with "
                            "`--base-map FILE` (a GeoTIFF or MBTiles of the park) to show one"}
        self._png: Path | None = None
        self.note: str | None = None        # a line for the console: what is shown, or why not

    def prepare(self) -> None:
        """Check and draw the base map once, before serving; raise for a file given by the user."""
        recorded = self.db.summary()["meta"].get(META_KEY)
        path = self.explicit or recorded
        if not path:
            return
        try:
            self._load(Path(path))
        except BaseMapError as exc:
            if self.explicit:
                raise
            self._info = {"available": False, "why": f"{exc}; give another with --base-map"}
            self.note = f"the base map recorded for this flight is not shown: {exc}"
            log.warning("%s", self.note)
            return
        if self.explicit and os.path.abspath(path) != recorded:
            self._remember(os.path.abspath(path))

    def _load(self, path: Path) -> None:
        flight = flight_bounds(self.db)
        if flight is None:
            raise BaseMapError(f"the flight {self.db.path.name} has no position on the map, so there is "
                               f"nowhere to put the base map {path}")
        area = Area.around(flight)
        png, facts = self._cached(path, area)
        if facts["covered"] == 0:
            ext = facts["extent"]
            raise BaseMapError(
                f"the base map {path} does not cover the flight: the flight is around {_where(flight)} "
                f"(lat, lon), the map spans latitude {ext[1]:.4f} to {ext[3]:.4f} and longitude "
                f"{ext[0]:.4f} to {ext[2]:.4f}")
        self._png = png
        share = facts["covered"]
        self._info = {"available": True, "name": path.name, "kind": facts["kind"], "bounds": facts["bounds"],
                      "covered": round(share, 3), "image": "/api/base-map/image"}
        self.note = (f"base map {path.name} ({facts['kind']})"
                     + ("" if share > 0.99 else f": covers {share:.0%} of the flight's area"))

    def _cached(self, path: Path, area: Area) -> tuple[Path, dict]:
        """The picture and its facts, drawn once per file (by size and time) and flight area."""
        try:
            st = path.stat()
        except OSError as exc:
            raise BaseMapError(f"the base map {path} does not exist"
                               if not path.exists() else f"the base map {path} cannot be read: {exc}") from None
        key = hashlib.sha1(json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns,
                                       [round(v, 7) for v in area.bounds], BASE_PX]).encode()).hexdigest()[:16]
        folder = Path(self.db.cache_dir) / "base_map"
        png, facts_file = folder / f"{path.stem}-{key}.png", folder / f"{path.stem}-{key}.json"
        if png.is_file() and facts_file.is_file():
            try:
                return png, json.loads(facts_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass   # a broken cache entry: draw it again
        import cv2

        pic, kind = render_base_map(path, area)
        facts = {"kind": kind, "bounds": list(pic.bounds), "covered": pic.covered, "extent": list(pic.extent)}
        if pic.covered > 0:      # an uncovered flight is refused: nothing worth keeping
            ok, buf = cv2.imencode(".png", pic.rgba[..., [2, 1, 0, 3]])      # RGBA -> BGRA for OpenCV
            write_atomic(png, buf.tobytes(), error=BaseMapError, what="base map picture")
            write_atomic(facts_file, json.dumps(facts), error=BaseMapError, what="base map facts")
        return png, facts

    def _remember(self, path: str) -> None:
        from ..store.write import FlightStore

        with FlightStore.open(self.db.path) as store:
            store.set_meta(META_KEY, path)

    def info(self) -> dict:
        return dict(self._info)

    def png(self) -> Path | None:
        return self._png
