"""Every table any module adds to the flight GeoPackage has an INTEGER PRIMARY KEY, as the
GeoPackage standard requires of feature and attribute tables (requirements 29 and 119).  The
schemas are taken from the modules themselves (every module-level SQL text that creates a
table), so a table added later is held to it before any file is written."""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3

import processing.store


def _schemas() -> dict[str, str]:
    found = {}
    for info in pkgutil.iter_modules(processing.store.__path__):
        module = importlib.import_module(f"processing.store.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, str) and "CREATE TABLE" in value:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_flight_geopackage_table_has_one_integer_primary_key():
    con = sqlite3.connect(":memory:")
    for sql in _schemas().values():
        con.executescript(sql)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'gpkg_%' AND name NOT LIKE 'sqlite_%'")]
    assert {"frames", "flags", "track", "decisions", "flight_meta", "frame_searches", "sightings",
            "sighting_decisions", "frame_registration"} <= set(tables)
    keys = {t: [(r[1], r[2].upper()) for r in con.execute(f"PRAGMA table_info({t})") if r[5]] for t in tables}
    bad = {t: k for t, k in keys.items() if len(k) != 1 or k[0][1] != "INTEGER"}
    assert bad == {}, f"tables without one INTEGER PRIMARY KEY (GeoPackage req. 119): {bad}"
