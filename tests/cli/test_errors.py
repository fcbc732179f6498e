"""One error translation for every command: the running command's flag, the interrupt note."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from radiomap_geo.cli.main import cli
from radiomap_geo.cli.running import friendly_errors, on_interrupt
from radiomap_geo.errors import Cancelled, InputError


def _sites(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,lon,lat,height_m\na,24.942,60.167,25\n")
    return path


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        # Options named after the core's fields: the field a core error names is this flag.
        (["--temperature", "0"], "Error: --temperature: temperature_db must be a positive"),
        (["--tilt-max", "100"], "Error: --tilt-max: tilt limits"),
        (["--rx-height", "0"], "Error: --rx-height: Receiver height"),
    ],
)
def test_a_core_error_names_the_flag_of_the_running_command(tmp_path, extra, words):
    args = ["optimize", "--bbox", "24.940,60.166,24.944,60.168", "--tx-file", _sites(tmp_path)]
    result = CliRunner().invoke(cli, [*map(str, args), "-o", str(tmp_path / "o.gpkg"), *extra])
    assert result.exit_code == 1, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.gpkg").exists()


def test_an_argument_is_named_in_capitals(tmp_path):
    missing = tmp_path / "missing.gpkg"
    args = ["measurements", "locate", str(missing), "-o", str(tmp_path / "towers.gpkg")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Error: MEASUREMENTS: measurement file" in result.output


def _command(body, **wrapping):
    @click.command()
    @click.option("--seed", type=int, default=0)
    @friendly_errors(**wrapping)
    def command(seed: int) -> None:
        body()

    return command


def _interrupted_after_saying_what_is_kept() -> None:
    on_interrupt("finished tiles are kept in out/; rerun to resume")
    raise KeyboardInterrupt


def _cancelled() -> None:
    raise Cancelled("stop")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_interrupted_after_saying_what_is_kept, "interrupted: finished tiles are kept in out/"),
        (_cancelled, "interrupted: nothing was written"),
    ],
)
def test_an_interrupt_says_what_is_left(body, words):
    result = CliRunner().invoke(_command(body), [])
    assert result.exit_code == 130
    assert words in result.output


def _runtime_error() -> None:
    raise RuntimeError("CUDA is not available")


def test_other_errors_are_one_line_only_where_asked():
    shown = CliRunner().invoke(_command(_runtime_error, also=(RuntimeError,)), [])
    assert shown.exit_code == 1 and shown.output == "Error: CUDA is not available\n"
    raw = CliRunner().invoke(_command(_runtime_error), [])
    assert isinstance(raw.exception, RuntimeError)


def test_a_renamed_parameter_and_a_message_that_names_its_flag():
    def sites() -> None:
        raise InputError("no sites in the file", parameter="sites")

    def named() -> None:
        raise InputError("--seed: already named", parameter="seed")

    assert "Error: --tx-file: no sites" in CliRunner().invoke(_command(sites), []).output
    # A message that already starts with the flag is not prefixed twice.
    assert CliRunner().invoke(_command(named), []).output == "Error: --seed: already named\n"
