"""The project's own sample data: made-up park sectors near the Land of the Leopard.

Nothing here is surveyed or official; the shapes are invented to exercise the planner (a concave
sector, a sector with a hole, a village and a border-zone exclusion, a highway stretch, salt
licks) and to give ``uav demo`` a small sector to fly on the simulator.  All files are GeoJSON,
WGS84, lon/lat.

================================  ==========================================================
``park_sectors.geojson``          "Sector 7 — Narva valley" (concave, ~4.6 km²) and
                                  "Sector 8 — Barabash ridge" (with a hole, ~4.0 km²)
``exclusions.geojson``            a village and a border-zone buffer
``road_a189.geojson``             a made-up stretch of the A189 highway (~11 km)
``salt_licks.geojson``            four salt-lick lookout points
``demo_sector.geojson``           ~500 m x 400 m demo sector flown by ``uav demo``
``demo_exclusion.geojson``        a small apiary inside the demo sector
``demo_road.geojson``             a forest road crossing the demo sector
``demo_launch.geojson``           the demo's launch point (``alt_amsl_m`` property)
================================  ==========================================================
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from uav.errors import InvalidInputError

SAMPLES = (
    "park_sectors.geojson", "exclusions.geojson", "road_a189.geojson", "salt_licks.geojson",
    "demo_sector.geojson", "demo_exclusion.geojson", "demo_road.geojson", "demo_launch.geojson",
)


def sample_names() -> list[str]:
    """Names of the bundled sample files."""
    return list(SAMPLES)


def sample_path(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_path("demo_sector.geojson")``.

    The ``.geojson`` suffix may be left out.
    """
    if not name.endswith(".geojson"):
        name += ".geojson"
    if name not in SAMPLES:
        raise InvalidInputError(f"no sample data named {name!r}; samples: {', '.join(SAMPLES)}")
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.exists():  # pragma: no cover - a broken install
        raise InvalidInputError(f"sample file {name} is missing from the installation ({path})")
    return path
