"""What a mosaic run wrote, and where its files go by default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .build import MosaicFile

__all__ = ["MosaicResult", "default_mosaic_path", "thermal_path"]


@dataclass
class MosaicResult:
    """What :func:`build_mosaic` wrote: one file per camera kind, and notes on frames left out."""

    files: list[MosaicFile]
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def __str__(self) -> str:
        lines = []
        for f in self.files:
            w, h = f.size
            lines.append(f"Wrote {f.path}: {f.kind} mosaic of {f.frames} frame(s) ({f.registered} registered), "
                         f"{f.res_m:.3f} m cells, {w} x {h}, EPSG:{f.epsg}")
            if f.seams is not None:
                lines.append(f"  {f.seams.summary()}")
        lines += [f"  note: {n}" for n in self.notes[:20]]
        if len(self.notes) > 20:
            lines.append(f"  … and {len(self.notes) - 20} more notes")
        return "\n".join(lines)


def default_mosaic_path(gpkg) -> str:
    """FLIGHT_mosaic.tif next to FLIGHT.gpkg (as FLIGHT_geotiff/ holds the per-frame GeoTIFFs)."""
    return os.path.splitext(os.fspath(gpkg))[0] + "_mosaic.tif"


def thermal_path(out: str) -> str:
    stem, ext = os.path.splitext(out)
    return f"{stem}_thermal{ext or '.tif'}"
