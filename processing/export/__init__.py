"""Hand reviewed flags on: GeoJSON (QGIS), KML/KMZ (Google Earth), CSV, SMART Connect incidents."""

from .writers import FORMATS, ExportResult, export_flight

__all__ = ["FORMATS", "ExportResult", "export_flight"]
