"""What runs around a command's body: the progress bar, the output checks, the error messages.

:func:`friendly_errors` is the one place where library errors become command-line messages: a
core error names its parameter, and the message names the running command's flag for it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from radiomap_geo.errors import Cancelled, RadiomapError
from radiomap_geo.options import field_names, option_info

#: --quiet, for every command that shows a progress bar.
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")


def check_outputs(opts: dict) -> None:
    """Refuse existing outputs (the GeoTIFF and, with --preview, its PNG) and an unknown
    --dst-crs before any work.
    """
    from radiomap_geo.errors import OutputError, OutputExistsError
    from radiomap_geo.grid import to_crs
    from radiomap_geo.io.raster import check_writable

    if opts.get("dst_crs"):
        to_crs(opts["dst_crs"], parameter="dst_crs")

    blocking = next((p for p in Path(opts["output"]).parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise OutputError(
            f"cannot write {opts['output']}: {blocking} is a file, not a folder; choose another "
            "output path",
            parameter="output",
        )
    path = check_writable(opts["output"], opts["overwrite"])
    preview = path.with_suffix(".png")
    if opts.get("preview") and preview.exists() and not opts["overwrite"]:
        raise OutputExistsError(
            f"the preview {preview} exists: pass --overwrite to replace it", parameter="output"
        )


def given_on_command_line(name: str) -> bool:
    """Whether the running command's option ``name`` was typed, not left at its default."""
    source = click.get_current_context().get_parameter_source(name)
    return source is click.core.ParameterSource.COMMANDLINE


#: Core parameter names that no option of the command carries, as the command line spells them.
RENAMED = {"sites": "--tx-file"}
#: Where a command says what an interrupted run leaves behind (see :func:`on_interrupt`).
_LEFT_BEHIND = "radiomap_geo.left_behind"


def flag_for(parameter: str | None, command: click.Command | None = None) -> str | None:
    """The command-line name of a core parameter, or None.

    The option (or argument) of ``command`` that carries the parameter's name, else the flag of
    the RunOptions field, else :data:`RENAMED`.
    """
    if parameter is None:
        return None
    for param in command.params if command is not None else ():
        if param.name != parameter:
            continue
        if isinstance(param, click.Argument):  # FILES, MEASUREMENTS: as the usage line spells it
            return parameter.upper()
        return next((o for o in param.opts if o.startswith("--")), param.opts[0])
    if parameter in field_names():
        return option_info(parameter).cli
    return RENAMED.get(parameter)


def on_interrupt(text: str) -> None:
    """Say ``text`` on Ctrl-C instead of "nothing was written" (what is kept, how to go on)."""
    click.get_current_context().meta[_LEFT_BEHIND] = text


def friendly_errors(
    command: Callable | None = None, *, also: tuple[type[Exception], ...] = ()
) -> Callable:
    """Turn library errors into one-line messages and Ctrl-C into a clean exit.

    A core error naming its parameter is prefixed by that parameter's flag in the running
    command. ``also``: further exception types whose message is shown as it is (torch's
    RuntimeError for --device cuda without a GPU); click's own exits pass through.
    """
    if command is None:
        return functools.partial(friendly_errors, also=also)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context(silent=True)
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (Cancelled, KeyboardInterrupt):
            left = ctx.meta.get(_LEFT_BEHIND) if ctx is not None else None
            click.echo(f"interrupted: {left or 'nothing was written'}", err=True)
            sys.exit(130)
        except RadiomapError as err:
            flag = flag_for(err.parameter, ctx.command if ctx is not None else None)
            text = str(err) if flag is None or str(err).startswith(flag) else f"{flag}: {err}"
            raise click.ClickException(text) from err
        except also as err:
            raise click.ClickException(str(err)) from err

    return wrapper


class RichProgress:
    """A rich progress bar behind the core's ``progress(done, total, message)`` callable."""

    def __init__(self, description: str, enabled: bool = True, console: Any = None) -> None:
        """``console``: a :class:`rich.console.Console` to draw on (default: rich's own)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, note="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress.tasks[0].total is None:  # nothing reported: no "0/None" bar left
            self._progress.update(self._task, visible=False)
        self._progress.stop()

    def __call__(self, done: int, total: int, message: str) -> None:
        """Move the bar to ``done`` of ``total``."""
        self._progress.update(self._task, completed=done, total=total, note=message)
