"""``uav review`` (the review web page) and ``uav export`` (GeoJSON, KML/KMZ, CSV, SMART)."""

from __future__ import annotations

import click


@click.command()
@click.argument("gpkg", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default is reachable from this computer only; "
                   "0.0.0.0 shares the page with the whole network.")
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="TCP port (default: a free one, printed at start).")
@click.option("--reviewer", default=None, help="Your name, recorded with every decision.")
@click.option("--verbose", is_flag=True, help="Log every request.")
@click.option("--mosaic", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Mosaic GeoTIFF to show under the map (default: the one `uav mosaic` made for GPKG).")
@click.option("--base-map", type=click.Path(), default=None,
              help="The park's own map (GeoTIFF in any projection, or MBTiles of PNG/JPEG tiles) to show "
                   "under the mosaic, offline. Remembered in GPKG for the next review.")
def review(gpkg, host, port, reviewer, verbose, mosaic, base_map):
    """Review the sightings (and flags) of a flight in a local web page: accept, reject or mark uncertain.

    Decisions are stored in GPKG at once.  Open the printed address in a browser; nothing is
    opened or contacted by itself.  Stop with Ctrl-C.
    """
    from processing.review.server import serve

    srv = serve(gpkg, host=host, port=port, reviewer=reviewer, verbose=verbose, mosaic=mosaic, base_map=base_map)
    s = srv.db.summary()
    click.echo(f"Reviewing {s['name']}: {s['flags']['total']} flags on {s['frames']['total']} frames "
               f"({s['flags']['by_status']['new']} not yet reviewed), grouped into {s['sightings']['total']} "
               f"sightings ({s['sightings']['by_status']['new']} to decide)")
    if srv.base_map.note:
        click.echo(f"Under the map: {srv.base_map.note}" if srv.base_map.png() else f"Note: {srv.base_map.note}")
    click.echo(f"Open {srv.url} in a browser (Ctrl-C to stop)")
    if not srv.loopback_only:
        click.secho(f"Warning: listening on {host}: anyone on this network can open the page and decide.",
                    fg="yellow", err=True)
    # Stop on Ctrl-C or SIGTERM alike; installing the handlers ourselves also works where the
    # shell started us with SIGINT ignored (background jobs, CI runners).
    import signal
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(3600):
            pass
        click.echo("Stopped.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        srv.close()


@click.command()
@click.argument("gpkg", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "fmt", required=True, type=click.Choice(["geojson", "kml", "kmz", "csv", "smart"]),
              help="geojson (QGIS), kml/kmz (Google Earth; kmz holds the pictures), csv, "
                   "smart (SMART Connect incidents).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Output file.")
@click.option("--status", default="confirmed", show_default=True, type=click.Choice(["confirmed", "all"]),
              help="Only what an analyst confirmed, or everything.")
@click.option("--per-flag", is_flag=True,
              help="One entry per flag (per photo) instead of one per sighting (object).")
@click.option("--verify-frames", is_flag=True,
              help="Re-hash every frame and warn if one changed since processing.")
@click.option("--smart-mapping", type=click.Path(exists=True, dir_okay=False),
              help="Class -> SMART category mapping (TOML/JSON). Default: Land of the Leopard.")
@click.option("--smart-url", help="SMART Connect server base URL to POST the incidents to "
                                  "(e.g. https://connect.example.org/server).")
@click.option("--smart-ca", help="Conservation Area UUID (overrides the mapping file).")
@click.option("--smart-user", help="SMART Connect user name (HTTP basic auth).")
@click.option("--smart-password", envvar="UAV_SMART_PASSWORD",
              help="SMART Connect password (better: environment variable UAV_SMART_PASSWORD).")
@click.option("--smart-token", envvar="UAV_SMART_TOKEN", help="Bearer token instead of user/password.")
@click.option("--no-attachments", is_flag=True, help="SMART: do not attach the flag's picture.")
def export(gpkg, fmt, out, status, per_flag, verify_frames, smart_mapping, smart_url, smart_ca, smart_user,
           smart_password, smart_token, no_attachments):
    """Export the reviewed sightings of a flight for QGIS, Google Earth, spreadsheets or SMART.

    One entry per sighting (object), each with every frame that shows it and the frame's SHA-256;
    --per-flag writes one entry per flag instead."""
    from processing.export import export_flight
    from uav.errors import InvalidInputError

    if smart_user and not smart_password:
        raise InvalidInputError("--smart-user needs a password: --smart-password or UAV_SMART_PASSWORD")
    auth = (smart_user, smart_password) if smart_user else None
    res = export_flight(gpkg, fmt, out, status=status, verify_frames=verify_frames, smart_mapping=smart_mapping,
                        smart_url=smart_url, smart_ca_uuid=smart_ca, smart_auth=auth, smart_token=smart_token,
                        smart_attachments=not no_attachments, per_flag=per_flag)
    for w in res.warnings:
        click.secho(f"Warning: {w}", fg="yellow", err=True)
    unit = "flags" if per_flag else "sightings"
    what = f"confirmed {unit}" if status == "confirmed" else unit
    click.echo(f"Wrote {res.count} {what} to {res.path} ({fmt})")
    if smart_url:
        click.echo(f"Sent {res.posted} incident(s) to SMART Connect at {smart_url}")
    if res.count == 0 and status == "confirmed":
        click.echo("Nothing confirmed yet: review the flight with `uav review` first, or use --status all.")
