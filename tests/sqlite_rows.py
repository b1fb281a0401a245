"""Rows of one SQL query on a flight GeoPackage (or any SQLite file), for tests that check what
a command wrote."""

from __future__ import annotations

import sqlite3


def rows(db, sql: str, args=()) -> list:
    """Every row of ``sql`` on ``db``, the connection closed after."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()
