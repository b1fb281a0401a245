"""``uav signing keygen | setup | status``: per-aircraft MAVLink2 signing keys."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def signing():
    """MAVLink2 signing: one secret key per aircraft, so nobody else can command it."""


@signing.command()
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace an existing key (the aircraft must "
              "then be set up again).")
def keygen(key_file, overwrite):
    """Create a new random 32-byte key in KEY_FILE (readable by you only)."""
    from uav.link.signing import generate_key

    key = generate_key(key_file, overwrite=overwrite)
    click.echo(f"Wrote {key.path} (mode 600), fingerprint {key.fingerprint}")
    click.echo("Keep it secret. Next: `uav signing setup --connect /dev/ttyACM0 --key "
               f"{key.path}` with the aircraft on USB.")


@signing.command()
@click.option("--connect", "url", required=True, metavar="URL",
              help="The link to send the key over: use USB (e.g. /dev/ttyACM0), never a radio.")
@click.option("--key", "key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The aircraft's key file.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the vehicle's heartbeat.")
def setup(url, key_file, timeout):
    """Give the aircraft its key (SETUP_SIGNING) and check that it now answers signed."""
    from uav.link import connect
    from uav.link.signing import load_key, setup_signing

    key = load_key(key_file)
    with connect(url, timeout=timeout, stream_rate_hz=0, allow_signed_vehicle=True) as link:
        setup_signing(link, key)
        click.echo(f"Signing set up on {link.vehicle.describe()} with key {key.fingerprint}; "
                   "it now answers signed. Use --signing-key with upload/fly/status.")


@signing.command()
@click.option("--key", "key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The aircraft's key file.")
@click.option("--connect", "url", default=None, metavar="URL",
              help="Also check that the aircraft answers signed with this key.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the vehicle's heartbeat.")
def status(key_file, url, timeout):
    """Show a key's fingerprint and last timestamp; with --connect, check the aircraft."""
    from uav.link import connect
    from uav.link.signing import load_key, next_timestamp, signing_status

    key = load_key(key_file)
    click.echo(f"key {key.path}: fingerprint {key.fingerprint}, next timestamp "
               f"{next_timestamp(key)}")
    if url:
        with connect(url, timeout=timeout, signing_key=key, stream_rate_hz=0) as link:
            st = signing_status(link)
            click.echo(f"{link.vehicle.describe()}: answers signed with this key "
                       f"({st['good_signatures']} good signatures, {st['rejected']} refused)")
