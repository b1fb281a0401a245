"""The ``uav`` command.  One module per command group; heavy imports happen inside commands."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import UavError

# command name -> "module:attribute" (relative to uav.cli); loaded only when used, so
# `uav --help` stays fast.  A command whose module fails to import is an error, never a
# silently missing command: a newcomer must see the broken import, not a shorter menu.
COMMANDS = {
    "plan": "plan:plan",
    "upload": "link:upload",
    "download": "link:download",
    "fly": "link:fly",
    "status": "link:status",
    "signing": "signing:signing",
    "sim": "sim:sim",
    "rehearse": "sim:rehearse",
    "process": "process:process",
    "review": "review:review",
    "mosaic": "mosaic:mosaic",
    "export": "review:export",
    "demo": "demo:demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        command = getattr(module, attr, None)
        if command is None:
            raise RuntimeError(f"uav.cli.{module_name} has no command {attr!r} (listed in COMMANDS)")
        return command


class UavGroup(LazyGroup):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UavError as exc:
            # A ranger gets the message, not a traceback; UAV_DEBUG=1 shows the traceback.
            import os

            if os.environ.get("UAV_DEBUG"):
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            problems = getattr(exc, "problems", None)
            for p in problems or []:
                click.echo(f"  - {p}", err=True)
            ctx.exit(2)


@click.group(cls=UavGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="uav")
def cli():
    """amur-uav: plan, upload and rehearse fire-watch and anti-poaching drone flights, and
    find what the drones saw."""


def main(argv=None):
    return cli.main(args=argv, prog_name="uav")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
