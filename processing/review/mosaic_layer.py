"""The flight's mosaic as a layer of the review map (``/api/mosaic``, ``/api/mosaic/image``).

Which file: the one given to ``uav review --mosaic``, else the one ``uav mosaic`` / ``uav
process --mosaic`` recorded in the GeoPackage, else ``FLIGHT_mosaic.tif`` beside it.  Never a
path from a request.  A flight without one answers ``available: false`` and the page leaves
the toggle off, saying how to make one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..orthomosaic import default_mosaic_path

__all__ = ["MosaicLayer"]


class MosaicLayer:
    def __init__(self, db, explicit=None):
        self.db, self.explicit = db, explicit

    def path(self) -> Path | None:
        if self.explicit:
            return Path(self.explicit)
        recorded = self.db.summary()["meta"].get("mosaic")
        for p in (recorded, default_mosaic_path(self.db.path)):
            if p and os.path.isfile(p):
                return Path(p)
        return None

    def info(self) -> dict:
        p = self.path()
        if p is None:
            return {"available": False,
                    "why": f"no mosaic of this flight yet: make one with `uav mosaic {self.db.path.name}`"}
        if not p.is_file():
            return {"available": False, "why": f"the mosaic {p.name} is gone: make it again with `uav mosaic`"}
        ov = self.overlay(p)
        return {"available": True, "name": p.name, "bounds": list(ov.bounds), "kind": ov.kind,
                "res_m": ov.res_m, "image": "/api/mosaic/image"}

    def overlay(self, p: Path | None = None):
        from ..orthomosaic.overlay import mosaic_overlay

        return mosaic_overlay(p or self.path(), self.db.cache_dir)
