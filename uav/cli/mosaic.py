"""``uav mosaic``: a flight's frames as one Cloud Optimized GeoTIFF a GIS opens."""

from __future__ import annotations

import click


def write_mosaic(gpkg, out, resolution, dem=None, ground_elevation=None, camera=None, echo=click.echo,
                 seam_pairs=None):
    """Build the mosaic and say what was written (shared with ``uav process --mosaic``)."""
    from processing.orthomosaic import build_mosaic
    from processing.orthomosaic.seams import MAX_PAIRS

    if echo is not None:
        echo("making the mosaic …")
    result = build_mosaic(gpkg, out, resolution=resolution, dem=dem, ground_elevation=ground_elevation,
                          camera=camera, seam_pairs=MAX_PAIRS if seam_pairs is None else seam_pairs)
    if echo is not None:
        echo(str(result))
    return result


@click.command("mosaic")
@click.argument("gpkg", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="GeoTIFF to write (default: FLIGHT_mosaic.tif next to the GeoPackage). A flight "
                   "with colour and thermal frames also gets OUT_thermal.tif.")
@click.option("--resolution", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Ground size of a mosaic cell in metres (default: the frames' median GSD x 4).")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False),
              help="DEM GeoTIFF (default: the one the flight was processed with, if any).")
@click.option("--ground-elevation", type=float, default=None,
              help="Flat ground at this elevation (m) instead of take-off height, as given to uav process.")
@click.option("--camera", default=None, help="Camera profile name, as given to uav process.")
@click.option("--seam-pairs", type=click.IntRange(min=0), default=None,
              help="How many overlapping pairs of frames to check for agreement at the seams, at most "
                   "(features matched between the frames' own warps; default 40, spread over the flight; "
                   "0: do not check).")
def mosaic(gpkg, out, resolution, dem, ground_elevation, camera, seam_pairs):
    """Write the mosaic of a processed flight: every placed frame orthorectified and blended.

    Frames sit where `uav process` put them: on their registered poses after --register, else on
    their own GPS/IMU.  The file is a Cloud Optimized GeoTIFF (UTM, overviews, transparent
    where no frame saw the ground) that opens in QGIS; `uav review` shows it under the flags.
    The summary says how far apart the same ground lies in overlapping frames (mosaic pixels).
    """
    profile = None
    if camera:
        from ..profiles import get_camera

        profile = get_camera(camera)
    write_mosaic(gpkg, out, resolution, dem, ground_elevation, profile, seam_pairs=seam_pairs)
