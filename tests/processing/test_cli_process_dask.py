"""``uav process --dask`` with no scheduler there: one plain line, no traceback, no frame touched."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

import uav.cli.process as process_cli
from uav.cli import cli
from uav.errors import LinkError


def _closed_port() -> int:
    # A port nothing listens on: bound then released, so the connection is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connect_dask_names_the_address_and_the_way_out():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(LinkError) as info:
        process_cli.connect_dask(address, timeout_s=1.0)
    msg = str(info.value)
    assert address in msg
    assert "dask scheduler" in msg and "leave out --dask" in msg


def test_process_with_unreachable_dask_is_a_plain_error(tmp_path, monkeypatch):
    monkeypatch.setattr(process_cli, "DASK_CONNECT_TIMEOUT_S", 1.0)
    frames = tmp_path / "DCIM"
    frames.mkdir()
    out = tmp_path / "flight.gpkg"
    address = f"tcp://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(cli, ["process", str(frames), "--out", str(out), "--dask", address, "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"no Dask scheduler answered at {address}" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_ship_frames_without_dask_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "flight.gpkg"
    result = CliRunner().invoke(cli, ["process", str(tmp_path), "--out", str(out), "--ship-frames", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "--ship-frames sends frames to Dask workers: it needs --dask ADDRESS" in result.output
    assert not out.exists()
