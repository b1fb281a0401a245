"""A position written the ways rangers read it out on the radio.

Decimal degrees (``43.102050, 131.242783``), degrees and decimal minutes
(``43°06.123′N 131°14.567′E``, the usual GPS-handset format), UTM and MGRS.  UTM comes from pyproj;
MGRS is built from that UTM position with the standard 100 km square lettering (AA scheme), so no
extra dependency is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from uav.errors import InvalidInputError
from uav.geo import LocalFrame, utm_epsg

_BANDS = "CDEFGHJKLMNPQRSTUVWX"          # 8° latitude bands from 80°S; X spans 72–84°N
_COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROWS = "ABCDEFGHJKLMNPQRSTUV"           # 20 letters, repeating every 2,000 km


@dataclass(frozen=True)
class RadioPosition:
    """One position in every format the page shows."""

    lat: float
    lon: float
    decimal: str      # "43.102050, 131.242783" (latitude first, as spoken)
    dm: str           # "43°06.123′N 131°14.567′E"
    utm: str | None   # "52T 519451 4771230"
    mgrs: str | None  # "52T FJ 19451 71230"

    def as_dict(self) -> dict:
        return asdict(self)


def _check(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidInputError(f"not a latitude/longitude: lat={lat}, lon={lon}")


def format_dm(lat: float, lon: float, decimals: int = 3) -> str:
    """Degrees and decimal minutes with hemisphere letters, e.g. ``43°06.123′N 131°14.567′E``."""
    _check(lat, lon)

    def one(value: float, pos: str, neg: str, deg_width: int) -> str:
        scale = 10 ** decimals
        # Round once in thousandths of a minute so 59.9996′ carries into the degrees.
        total = round(abs(value) * 60 * scale)
        deg, rest = divmod(total, 60 * scale)
        minutes = rest / scale
        hemi = pos if value >= 0 else neg
        return f"{deg:0{deg_width}d}°{minutes:0{3 + decimals}.{decimals}f}′{hemi}"

    return f"{one(lat, 'N', 'S', 2)} {one(lon, 'E', 'W', 3)}"


def format_decimal(lat: float, lon: float) -> str:
    """Decimal degrees, latitude first, 6 decimals (~0.1 m)."""
    _check(lat, lon)
    return f"{lat:.6f}, {lon:.6f}"


def utm(lat: float, lon: float) -> tuple[int, str, float, float] | None:
    """``(zone, band letter, easting, northing)``; None outside UTM's 80°S–84°N."""
    _check(lat, lon)
    if not (-80.0 <= lat < 84.0):
        return None
    epsg = utm_epsg(lon, lat)
    zone = epsg % 100
    easting, northing = LocalFrame(epsg).to_metric(lon, lat)
    band = _BANDS[min(int((lat + 80.0) // 8.0), len(_BANDS) - 1)]
    return zone, band, float(easting), float(northing)


def format_utm(lat: float, lon: float) -> str | None:
    """``"52T 519451 4771230"`` (metres); None outside UTM coverage."""
    u = utm(lat, lon)
    if u is None:
        return None
    zone, band, e, n = u
    return f"{zone}{band} {int(e)} {int(n)}"


def format_mgrs(lat: float, lon: float, digits: int = 5) -> str | None:
    """MGRS grid reference at ``digits`` per axis (5 = 1 m), e.g. ``"52T FJ 19451 71230"``."""
    u = utm(lat, lon)
    if u is None:
        return None
    zone, band, e, n = u
    col_letters = _COLUMN_SETS[(zone - 1) % 3]
    col = col_letters[int(e // 100_000) - 1]
    row_index = int(n // 100_000) % 20
    if zone % 2 == 0:  # even zones start their row lettering five letters on
        row_index = (row_index + 5) % 20
    row = _ROWS[row_index]
    div = 10 ** (5 - digits)
    ee = int(e % 100_000) // div
    nn = int(n % 100_000) // div
    return f"{zone}{band} {col}{row} {ee:0{digits}d} {nn:0{digits}d}"


def radio_position(lat: float, lon: float) -> RadioPosition:
    """Every format at once."""
    return RadioPosition(lat=lat, lon=lon, decimal=format_decimal(lat, lon), dm=format_dm(lat, lon),
                         utm=format_utm(lat, lon), mgrs=format_mgrs(lat, lon))
