"""The scripts' shared command line: module-form usage, an existing --data-dir, and bad input as one line."""

import argparse
from pathlib import Path

import pytest

from fedrec.errors import ConfigError
from harness.arguments import DOWNLOAD_CACHE, add_data_dir, one_line_errors, script_parser


def _parser(required: bool = False) -> argparse.ArgumentParser:
    parser = script_parser("experiments.example", "An example script.")
    add_data_dir(parser, required=required)
    return parser


def _last_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_data_dir_defaults_to_the_download_cache_and_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _parser().parse_args([]).data_dir == DOWNLOAD_CACHE
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ml-1m").mkdir()
    assert _parser().parse_args(["--data-dir", "ml-1m"]).data_dir == str(tmp_path / "ml-1m")


def test_a_missing_data_dir_is_one_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "absent"
    with pytest.raises(SystemExit) as stop:
        _parser().parse_args(["--data-dir", str(absent)])
    assert stop.value.code == 2
    line = _last_error_line(capsys)
    assert line.startswith("python -m experiments.example: error:") and str(absent) in line
    with pytest.raises(SystemExit):
        _parser(required=True).parse_args([])
    assert "--data-dir" in _last_error_line(capsys)


def test_a_config_error_ends_the_script_with_its_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    with pytest.raises(SystemExit) as stop, one_line_errors(parser):
        raise ConfigError("ml-1m: no ratings.dat")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "python -m experiments.example: ml-1m: no ratings.dat\n"
