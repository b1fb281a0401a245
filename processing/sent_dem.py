"""A ``--dem`` that Dask workers cannot read, held in each worker's memory for the run.

The parent registers :class:`SentDem` (a Dask worker plugin, so a worker that joins during the
run gets it too); each worker opens the bytes as a GDAL in-memory file, whose ``/vsimem/`` path
the worker's georeference reads.  Nothing is written to the worker's disk.  Imported only when
a DEM is sent (it needs ``distributed``).
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["SENT_DEMS", "TOKEN_PREFIX", "SentDem"]

TOKEN_PREFIX = "amur-uav-dem-"
SENT_DEMS: dict = {}   # on a worker: token -> open rasterio MemoryFile


class SentDem(WorkerPlugin):
    """The DEM's bytes, opened in memory on every worker as it (or the plugin) starts."""

    idempotent = True

    def __init__(self, token: str, data: bytes):
        self.token, self.data = token, data

    def setup(self, worker):
        from rasterio.io import MemoryFile

        if self.token not in SENT_DEMS:
            SENT_DEMS[self.token] = MemoryFile(self.data, ext=".tif")

    def teardown(self, worker):
        mem = SENT_DEMS.pop(self.token, None)
        if mem is not None:
            mem.close()
