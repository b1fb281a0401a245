"""Sector input: GeoJSON, KML, KMZ, Shapefile and GeoPackage files written here for real, and
every kind of bad sector refused with a message that says what and where."""

import json
import zipfile

import numpy as np
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import mapping

from missions import landmask
from missions import sectors as S
from missions.data import sample_names, sample_path
from uav.errors import InvalidInputError, InvalidSectorError
from uav.geo import LocalFrame, geodesic_area_m2

# A concave sector with a hole near the park (lon, lat).
SHELL = [(131.2300, 43.0900), (131.2620, 43.0905), (131.2640, 43.1000), (131.2500, 43.0975),
         (131.2580, 43.1065), (131.2350, 43.1075)]
HOLE = [(131.2400, 43.0950), (131.2430, 43.0950), (131.2430, 43.0970), (131.2400, 43.0970)]
SECTOR = shapely.Polygon(SHELL, [HOLE])


def _write(path, geoms, names, *, crs="EPSG:4326", driver=None, layer=None, geometry_type=None):
    wkb = np.array([shapely.to_wkb(g) for g in geoms], dtype=object)
    pyogrio.raw.write(str(path), wkb, [np.array(names, dtype=object)], ["name"], crs=crs,
                      driver=driver, layer=layer,
                      geometry_type=geometry_type or geoms[0].geom_type)
    return path


def _geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for geom, props in features]}))
    return path


# ---------------------------------------------------------------------------------- formats
def test_sample_sectors_pick_by_name_and_attribute():
    path = sample_path("park_sectors")
    s7 = S.read_sector(path, name="sector 7 — narva valley")           # case-insensitive
    assert s7.geom_type == "Polygon" and not s7.convex_hull.equals(s7)   # concave
    s8 = S.read_sector(path, where="sector_id=8")
    assert len(s8.interiors) == 1
    assert S.read_sector(path, where="team=2").equals(s7)
    assert 3e6 < geodesic_area_m2(s7) < 6e6


def test_all_samples_are_readable():
    for name in sample_names():
        assert sample_path(name).exists()
    assert len(S.read_areas(sample_path("exclusions"))) == 2
    road = S.read_route(sample_path("road_a189"))
    assert road.geom_type == "LineString"
    licks = S.read_points(sample_path("salt_licks"))
    assert len(licks) == 4 and licks[0][2].startswith("Salt lick 1")
    lon, lat, _ = licks[0]
    assert 131 < lon < 132 and 43 < lat < 44                              # lon, lat order
    demo = S.read_sector(sample_path("demo_sector"))
    assert 150_000 < geodesic_area_m2(demo) < 260_000                      # ~500 m x 400 m
    with pytest.raises(InvalidInputError, match="no sample data named 'nope.geojson'"):
        sample_path("nope")


def test_shapefile_in_utm_is_reprojected_to_wgs84(tmp_path):
    frame = LocalFrame.around(131.25, 43.1)
    path = _write(tmp_path / "sector.shp", [frame.geom_to_metric(SECTOR)], ["Sector 7"],
                  crs="EPSG:32652", driver="ESRI Shapefile")
    got = S.read_sector(path)
    assert got.geom_type == "Polygon" and len(got.interiors) == 1
    assert got.symmetric_difference(SECTOR).area / SECTOR.area < 1e-9


def test_geopackage_multipolygon_with_several_layers(tmp_path):
    other = shapely.box(131.27, 43.11, 131.28, 43.12)
    multi = shapely.MultiPolygon([SECTOR, other])
    path = _write(tmp_path / "park.gpkg", [multi], ["Sector 9"], driver="GPKG", layer="sectors",
                  geometry_type="MultiPolygon")
    _write(path, [shapely.Point(131.24, 43.095)], ["Salt lick"], driver="GPKG", layer="licks")
    got = S.read_sector(path)
    assert got.geom_type == "MultiPolygon" and len(got.geoms) == 2
    assert got.equals(multi)
    assert S.read_points(path) == [(131.24, 43.095, "Salt lick")]


def test_kml_through_gdal_and_without_it(tmp_path, monkeypatch):
    path = _write(tmp_path / "sectors.kml", [SECTOR, shapely.box(131.27, 43.11, 131.28, 43.12)],
                  ["Sector 7", "Sector 8"], driver="LIBKML" if S._ogr_has("LIBKML") else "KML")
    assert S.read_sector(path, name="Sector 7").equals_exact(SECTOR, 1e-9)
    monkeypatch.setattr(S, "_ogr_has", lambda driver: False)               # GDAL without KML
    got = S.read_sector(path, name="sector 7")
    assert got.equals_exact(SECTOR, 1e-9) and len(got.interiors) == 1


KML_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>Sectors</name>
<Placemark><name>Lookout ridge</name>
 <ExtendedData><Data name="team"><value>4</value></Data></ExtendedData>
 <MultiGeometry>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   131.230,43.090,0 131.262,43.0905,0 131.264,43.100,0 131.235,43.1075,0 131.230,43.090,0
  </coordinates></LinearRing></outerBoundaryIs></Polygon>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   131.270,43.110 131.280,43.110 131.280,43.120 131.270,43.120 131.270,43.110
  </coordinates></LinearRing></outerBoundaryIs></Polygon>
 </MultiGeometry></Placemark>
<Placemark><name>Hut</name><Point><coordinates>131.25,43.095,0</coordinates></Point></Placemark>
</Folder></Document></kml>"""


@pytest.mark.parametrize("gdal", [True, False])
def test_kmz_with_doc_kml(tmp_path, monkeypatch, gdal):
    path = tmp_path / "sector.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", KML_DOC)
    if not gdal:
        monkeypatch.setattr(S, "_ogr_has", lambda driver: False)
    got = S.read_sector(path)
    assert got.geom_type == "MultiPolygon" and len(got.geoms) == 2
    assert S.read_sector(path, where="team=4").equals(got)
    assert S.read_points(path) == [(131.25, 43.095, "Hut")]


def test_geojson_with_holes_and_z(tmp_path):
    shell = [[x, y, 150.0] for x, y in SHELL + [SHELL[0]]]
    hole = [[x, y, 150.0] for x, y in HOLE + [HOLE[0]]]
    path = _geojson(tmp_path / "s.geojson", [({"type": "Polygon", "coordinates": [shell, hole]},
                                              {"Name": "Z sector"})])
    got = S.read_sector(path, name="z sector")
    assert not shapely.has_z(got) and got.equals_exact(SECTOR, 1e-9)


# ---------------------------------------------------------------------------------- bad input
def test_self_intersecting_sector_says_where(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[131.23, 43.09], [131.26, 43.11], [131.26, 43.09],
                                                  [131.23, 43.11], [131.23, 43.09]]]}
    path = _geojson(tmp_path / "bowtie.geojson", [(bowtie, {"name": "Sector 5"})])
    with pytest.raises(InvalidSectorError) as err:
        S.read_sector(path)
    msg = str(err.value)
    assert "bowtie.geojson" in msg and "feature 1 'Sector 5'" in msg
    assert "boundary crosses itself" in msg and "Self-intersection" in msg
    assert "lat 43.10000, lon 131.24500" in msg                     # the crossing point


def test_empty_sector(tmp_path):
    path = _geojson(tmp_path / "empty.geojson", [({"type": "Polygon", "coordinates": []},
                                                  {"name": "Sector 6"})])
    with pytest.raises(InvalidSectorError, match=r"empty.geojson: feature 1 .*the area is empty"):
        S.read_sector(path)
    with pytest.raises(InvalidSectorError, match="the area is empty"):
        S.validate_sector(shapely.Polygon(), "test")


def test_lat_lon_beyond_range_is_reported_as_swapped(tmp_path):
    swapped = [[y, x] for x, y in SHELL + [SHELL[0]]]            # lat, lon: latitude 131 > 90
    path = _geojson(tmp_path / "swapped.geojson", [({"type": "Polygon", "coordinates": [swapped]},
                                                    {"name": "Sector 7"})])
    with pytest.raises(InvalidSectorError, match=r"latitude/longitude look swapped: .*latitude 131\.2"):
        S.read_sector(path)


@pytest.mark.skipif(not landmask.available(), reason="global-land-mask not installed")
def test_swapped_axes_landing_in_the_sea_is_caught_by_the_land_mask(tmp_path):
    # A sector in Iraq (lat 35, lon 43) written lat,lon is read as lon 35, lat 43: the Black Sea.
    box = shapely.box(43.00, 35.00, 43.05, 35.04)
    swapped = shapely.transform(box, lambda xy: xy[:, ::-1])
    path = _geojson(tmp_path / "iraq.geojson", [(mapping(swapped), {"name": "Desert block"})])
    with pytest.raises(InvalidSectorError) as err:
        S.read_sector(path)
    msg = str(err.value)
    assert "latitude/longitude look swapped" in msg and "lies in the sea" in msg
    assert "would be on land" in msg and "lat 35.0" in msg


@pytest.mark.skipif(not landmask.available(), reason="global-land-mask not installed")
def test_sector_in_the_open_ocean(tmp_path):
    path = _geojson(tmp_path / "ocean.geojson",
                    [(mapping(shapely.box(160.0, 43.0, 160.05, 43.03)), {"name": "Pacific"})])
    with pytest.raises(InvalidSectorError, match=r"lies entirely in the sea \(lat 43\.0"):
        S.read_sector(path)
    assert S.read_sector(path, allow_sea=True).area > 0


def test_absurd_sizes_are_refused_with_the_size():
    huge = shapely.box(128.0, 43.0, 134.0, 48.0)                 # ~260,000 km² of Primorye/Manchuria
    with pytest.raises(InvalidSectorError, match=r"is [\d,]+ km², larger than .*limit 20,000 km²"):
        S.validate_sector(huge, "huge.geojson: feature 1")
    tiny = shapely.box(131.25, 43.1, 131.25003, 43.10003)        # ~2.4 m x 3.3 m
    with pytest.raises(InvalidSectorError, match=r"is only [\d.]+ m², too small .*limit 100"):
        S.validate_sector(tiny, "tiny")


def test_sector_picked_by_the_start_of_its_name_in_whole_words(tmp_path):
    path = sample_path("park_sectors")
    assert S.read_sector(path, name="Sector 7").equals(S.read_sector(path, name="Sector 7 — Narva valley"))
    with pytest.raises(InvalidSectorError, match="'Sector' matches several sectors .* give the full name"):
        S.read_sector(path, name="Sector")
    sq = shapely.box(131.20, 43.10, 131.21, 43.11)
    f = _geojson(tmp_path / "s.geojson", [(mapping(sq), {"name": "Sector 70"})])
    with pytest.raises(InvalidSectorError, match="no sector named 'Sector 7'"):
        S.read_sector(f, name="Sector 7")  # a prefix must end at a word boundary


def test_unknown_sector_name_lists_the_names():
    with pytest.raises(InvalidSectorError) as err:
        S.read_sector(sample_path("park_sectors"), name="Sector 99")
    msg = str(err.value)
    assert "no sector named 'Sector 99'" in msg
    assert "'Sector 7 — Narva valley'" in msg and "'Sector 8 — Barabash ridge'" in msg


def test_several_sectors_need_a_choice_and_bad_where():
    with pytest.raises(InvalidSectorError, match=r"holds 2 sectors .*--sector-name"):
        S.read_sector(sample_path("park_sectors"))
    with pytest.raises(InvalidSectorError, match=r"no field 'colour' to select on; fields: .*sector_id"):
        S.read_sector(sample_path("park_sectors"), where="colour=red")
    with pytest.raises(InvalidSectorError, match=r"no feature has team = '9'; values present: 2, 3"):
        S.read_sector(sample_path("park_sectors"), where="team=9")


@pytest.mark.parametrize("name, content, message", [
    ("broken.geojson", b'{"type": "FeatureCollection", "features": [', "cannot read"),
    ("broken.gpkg", b"this is not a geopackage at all" * 10, "cannot read"),
    ("broken.kmz", b"PK\x03\x04 truncated zip", "cannot read"),
    ("broken.shp", b"\x00" * 50, "cannot read"),
    ("empty.geojson", b"", r"is empty \(0 bytes\)"),
])
def test_corrupt_files_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidSectorError, match=message) as err:
        S.read_sector(path)
    assert name in str(err.value)


def test_missing_file_and_file_without_polygons(tmp_path):
    with pytest.raises(InvalidSectorError, match="file not found: .*nowhere.geojson"):
        S.read_sector(tmp_path / "nowhere.geojson")
    path = _geojson(tmp_path / "points.geojson", [({"type": "Point", "coordinates": [131.2, 43.1]}, {})])
    with pytest.raises(InvalidSectorError, match=r"no polygon in the file \(found Point\)"):
        S.read_sector(path)
    with pytest.raises(InvalidSectorError, match="is a LineString, not a polygon"):
        S.validate_sector(shapely.LineString([(131.2, 43.1), (131.3, 43.1)]), "route")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_projected_coordinates_without_crs(tmp_path):
    frame = LocalFrame.around(131.25, 43.1)
    path = _write(tmp_path / "noprj.shp", [frame.geom_to_metric(SECTOR)], ["Sector 7"], crs=None,
                  driver="ESRI Shapefile")
    with pytest.raises(InvalidSectorError, match=r"are not degrees; .*projected CRS"):
        S.read_sector(path)


def test_routes_and_points(tmp_path):
    a = shapely.LineString([(131.20, 43.07), (131.23, 43.085)])
    b = shapely.LineString([(131.23, 43.085), (131.26, 43.10)])
    path = _write(tmp_path / "road.gpkg", [a, b], ["A189 part 1", "A189 part 2"], driver="GPKG")
    route = S.read_route(path)
    assert route.geom_type == "LineString" and len(route.coords) == 3
    c = shapely.LineString([(131.30, 43.12), (131.31, 43.13)])
    gap = _write(tmp_path / "gap.gpkg", [a, c], ["p1", "p2"], driver="GPKG")
    with pytest.raises(InvalidInputError, match="in 2 pieces that do not join"):
        S.read_route(gap)
    with pytest.raises(InvalidInputError, match=r"no line in the file \(found Polygon\)"):
        S.read_route(sample_path("demo_sector"))
    with pytest.raises(InvalidInputError, match=r"no point in the file \(found LineString\)"):
        S.read_points(sample_path("road_a189"))
