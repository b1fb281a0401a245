"""Each written format's own reader or validator, run as the user's tools run it (not our reader).

GDAL's command-line tools (``ogrinfo``, ``gdalinfo``; Debian ``gdal-bin``) and its validators
(``validate_gpkg.py``, ``validate_cloud_optimized_geotiff.py``; Debian ``python3-gdal`` ships
them only as modules ``osgeo_utils.samples.*`` of the system Python, which the project's virtual
environment does not see, so they run as a subprocess of ``/usr/bin/python3``).  ``.ci/run``
installs both packages; a test needing one that is absent skips, saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

__all__ = ["Verdict", "gdalinfo", "needs_cog_validator", "needs_gdal", "needs_gpkg_validator",
           "ogr_layers", "ogrinfo", "validate_cog", "validate_gpkg"]

_DEBIAN = "apt-get install gdal-bin python3-gdal (Debian; .ci/run does)"
# GDAL_PYTHON: another Python whose GDAL bindings carry the validators (conda, a source build).
_PYTHONS = [p for p in (os.environ.get("GDAL_PYTHON"), "/usr/bin/python3") if p]


@dataclass(frozen=True)
class Verdict:
    """What a reader said: its exit status and everything it printed."""

    tool: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:
        return f"{self.tool} exited {self.returncode}:\n{self.output}"


@cache
def _validator(name: str) -> tuple[str, ...] | None:
    """The command that runs GDAL's sample validator ``name`` (a module or a script on PATH)."""
    for py in _PYTHONS:
        if shutil.which(py) and subprocess.run(
                [py, "-c", f"import osgeo_utils.samples.{name}"], capture_output=True).returncode == 0:
            return (py, "-m", f"osgeo_utils.samples.{name}")
    script = shutil.which(f"{name}.py")
    return (script,) if script else None


def _run(cmd, tool: str, **env) -> Verdict:
    # GDAL_PAM_ENABLED=NO: no .aux.xml left beside the file checked
    r = subprocess.run([os.fspath(c) for c in cmd], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "GDAL_PAM_ENABLED": "NO", **env})
    return Verdict(tool, r.returncode, (r.stdout + r.stderr).strip())


needs_gdal = pytest.mark.skipif(not (shutil.which("ogrinfo") and shutil.which("gdalinfo")),
                                reason=f"GDAL's ogrinfo/gdalinfo are not installed: {_DEBIAN}")
needs_gpkg_validator = pytest.mark.skipif(_validator("validate_gpkg") is None,
                                          reason=f"GDAL's validate_gpkg.py is not installed: {_DEBIAN}")
needs_cog_validator = pytest.mark.skipif(
    _validator("validate_cloud_optimized_geotiff") is None,
    reason=f"GDAL's validate_cloud_optimized_geotiff.py is not installed: {_DEBIAN}")


def validate_gpkg(path) -> Verdict:
    """GDAL's GeoPackage validator with ``-k`` (every failed requirement, not just the first)
    and ``--extra`` (its checks beyond the standard's letter)."""
    return _run([*_validator("validate_gpkg"), "-k", "--extra", path], "validate_gpkg.py")


def validate_cog(path) -> Verdict:
    """GDAL's Cloud Optimized GeoTIFF validator (``--full-check=yes``: reads every tile)."""
    return _run([*_validator("validate_cloud_optimized_geotiff"), "--full-check=yes", path],
                "validate_cloud_optimized_geotiff.py")


# GDAL's two KML readers: each is made the only one by skipping the other (Debian 12's GDAL 3.6
# has no ``ogrinfo -if``).
_SKIP = {"KML": "LIBKML", "LIBKML": "KML"}


def ogrinfo(path, *args, layer: str | None = None, driver: str | None = None) -> Verdict:
    """``ogrinfo -ro ARGS PATH [LAYER]``; ``driver`` "KML" or "LIBKML" opens it with that
    reader only."""
    env = {"GDAL_SKIP": _SKIP[driver]} if driver else {}
    return _run(["ogrinfo", "-ro", *args, path, *([layer] if layer else [])],
                f"ogrinfo ({driver})" if driver else "ogrinfo", **env)


def ogr_layers(path) -> dict:
    """``ogrinfo -so -al``'s summary (Debian 12 has GDAL 3.6, before ``ogrinfo -json``):
    layer name -> {"geometry": type, "features": count}."""
    out = ogrinfo(path, "-so", "-al")
    assert out.ok, out
    layers, name = {}, None
    for line in out.output.splitlines():
        if line.startswith("Layer name: "):
            name = line.split(": ", 1)[1]
            layers[name] = {}
        elif name and line.startswith("Geometry: "):
            layers[name]["geometry"] = line.split(": ", 1)[1]
        elif name and line.startswith("Feature Count: "):
            layers[name]["features"] = int(line.split(": ", 1)[1])
    return layers


def gdalinfo(path) -> dict:
    """``gdalinfo -json -stats`` of a raster (asserting it opened)."""
    out = _run(["gdalinfo", "-json", "-stats", path], "gdalinfo")
    assert out.ok, out
    return json.loads(out.output[out.output.index("{"):])

