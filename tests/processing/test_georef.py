"""Camera model: known pose <-> known ground point, DEM ray marching, real footprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from processing.georef import DemGround, FlatGround, georeference_frame
from processing.poses import Intrinsics, Pose
from uav.errors import GeoreferenceError
from uav.geo import distance_m, offset_lonlat

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
K = Intrinsics(focal_px=1000.0, cx=499.5, cy=374.5, width=1000, height=750)


def test_nadir_known_point_maps_to_known_pixel_and_back():
    pose = Pose(lat=-2.0, lon=34.0, alt_amsl=600.0, alt_rel=100.0, yaw=90.0, pitch=-90.0, roll=0.0)
    geo = georeference_frame(pose, K)  # ground at take-off height 500 m
    # yaw 90: top of the image points east.  A point 20 m east of the camera is 200 px above
    # the centre (f = 1000 px, 100 m height); 10 m south is 100 px to the right.
    lon, lat = offset_lonlat(34.0, -2.0, 20.0, -10.0)
    u, v, front = geo.camera.lonlat_to_pixel(lon, lat, 500.0)
    assert front[0]
    assert u[0] == pytest.approx(499.5 + 100, abs=0.2) and v[0] == pytest.approx(374.5 - 200, abs=0.2)
    lo, la, z = geo.pixel_to_lonlat(u, v)
    assert distance_m(lo[0], la[0], lon, lat) < 0.01 and z[0] == pytest.approx(500.0)
    assert geo.gsd_m == pytest.approx(0.1, rel=1e-3)
    assert geo.footprint_utm.area == pytest.approx(100.0 * 75.0, rel=1e-3)
    assert not geo.clipped


def test_oblique_roundtrip_with_distortion_and_flat_elevation():
    k = Intrinsics(focal_px=900.0, cx=510.0, cy=380.0, width=1000, height=750,
                   distortion=(-0.2, 0.08, 0.001, -0.0005, -0.02))
    pose = Pose(lat=46.8, lon=-92.0, alt_amsl=300.0, yaw=-30.0, pitch=-55.0, roll=2.0)
    geo = georeference_frame(pose, k, FlatGround(180.0))
    u = np.array([10.0, 500.0, 990.0, 300.0])
    v = np.array([20.0, 380.0, 700.0, 600.0])
    lon, lat, z = geo.pixel_to_lonlat(u, v)
    assert np.allclose(z, 180.0)
    u2, v2, front = geo.camera.lonlat_to_pixel(lon, lat, z)
    assert front.all() and np.allclose(u2, u, atol=0.05) and np.allclose(v2, v, atol=0.05)
    # the optical axis meets the ground 120 m / tan(55 deg) ahead, towards yaw -30
    c = geo.camera.pixel_to_world([510.0], [380.0])[0] - geo.camera.C
    assert np.hypot(c[0], c[1]) == pytest.approx(120.0 / np.tan(np.radians(55.0)), rel=0.01)


def test_horizon_rays_are_clipped_and_bad_poses_refused():
    pose = Pose(lat=10.0, lon=10.0, alt_amsl=150.0, alt_rel=50.0, yaw=0.0, pitch=-5.0)
    geo = georeference_frame(pose, K)
    assert geo.clipped
    lon, lat, _ = geo.pixel_to_lonlat([500.0], [0.0])  # top centre looks above the horizon
    assert np.isnan(lon[0])
    with pytest.raises(GeoreferenceError, match="heading"):
        georeference_frame(Pose(lat=1, lon=1, alt_rel=50), K)
    with pytest.raises(GeoreferenceError, match="relative altitude"):
        georeference_frame(Pose(lat=1, lon=1, alt_amsl=50, yaw=0), K)
    with pytest.raises(GeoreferenceError, match="above the ground"):
        georeference_frame(Pose(lat=1, lon=1, alt_amsl=50, yaw=0), K, FlatGround(80.0))
    with pytest.raises(GeoreferenceError, match="does not exist"):
        DemGround("/nonexistent/dem.tif")


def test_dem_ray_marching_on_a_synthetic_slope(tmp_path):
    # A slope rising 0.2 m per metre eastward, in UTM 36S: z = 500 + 0.2 * (x - x0)
    from pyproj import Transformer

    epsg = 32736
    x0, y0 = Transformer.from_crs(4326, epsg, always_xy=True).transform(34.0, -2.0)
    res = 2.0
    n = 400
    xs = x0 - n / 2 * res + (np.arange(n) + 0.5) * res
    z = (500.0 + 0.2 * (xs - x0))[None, :].repeat(n, 0).astype("float32")
    dem = tmp_path / "slope.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs=f"EPSG:{epsg}", transform=from_origin(x0 - n / 2 * res, y0 + n / 2 * res, res, res),
                       nodata=-9999) as ds:
        ds.write(z, 1)
    pose = Pose(lat=-2.0, lon=34.0, alt_amsl=600.0, yaw=90.0, pitch=-60.0)
    geo = georeference_frame(pose, K, DemGround(str(dem)))
    P = geo.camera.pixel_to_world([499.5, 100.0, 900.0], [374.5, 100.0, 700.0])
    assert np.isfinite(P).all()
    expected = 500.0 + 0.2 * (P[:, 0] - x0)
    assert np.allclose(P[:, 2], expected, atol=0.05)  # each hit lies on the terrain
    # and back to the same pixels
    u, v, _ = geo.camera.world_to_pixel(P)
    assert np.allclose(u, [499.5, 100.0, 900.0], atol=0.05) and np.allclose(v, [374.5, 100.0, 700.0], atol=0.05)
    # analytic: along the centre ray (east, 60 deg down) z = 600 - t sin60, x - x0 = t cos60
    t = 100.0 / (np.sin(np.radians(60)) + 0.2 * np.cos(np.radians(60)))
    assert P[0, 0] - x0 == pytest.approx(t * np.cos(np.radians(60)), abs=0.1)


@pytest.mark.skipif(not (DATA / "brighton").exists(), reason="../shared/data not present")
def test_brighton_footprints_overlap_the_point_cloud():
    laspy = pytest.importorskip("laspy")
    import shapely

    from processing.frames import read_metadata
    from processing.poses import intrinsics_from_metadata, pose_from_metadata

    las = laspy.read(DATA / "brighton" / "model.laz")
    xy = np.stack([np.asarray(las.x)[::100], np.asarray(las.y)[::100]], -1)
    cloud = shapely.MultiPoint(xy).convex_hull
    prints = []
    for path in sorted((DATA / "brighton").glob("DJI_00*.JPG")):
        meta = read_metadata(path)
        geo = georeference_frame(pose_from_metadata(meta), intrinsics_from_metadata(meta))
        assert geo.epsg == 32615
        assert 0.015 < geo.gsd_m < 0.02  # 40 m up, 2340 px focal length
        share = geo.footprint_utm.intersection(cloud).area / geo.footprint_utm.area
        # the cloud was reconstructed where the two flight lines overlap: every frame
        # reaches into it, none lies outside it
        assert share > 0.3, f"{path.name}: only {share:.0%} of its footprint is over the point cloud"
        prints.append(geo.footprint_utm)
    # and together they see the cloud: (measured 92%; the rest is at the frames' very edges
    # and within the few metres of GPS error)
    inside = shapely.contains_xy(shapely.union_all(prints), xy[:, 0], xy[:, 1]).mean()
    assert inside > 0.85, f"only {inside:.0%} of the point cloud lies under the frames"
