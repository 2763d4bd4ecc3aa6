"""`pip install .` (not editable) gives a working app: the wheel lists every package and carries the defaults."""

import io
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from flwr.cli.build import build_fab_from_disk

from fedrec.config import pyproject_defaults

PROJECT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
WHEEL = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]


def test_the_wheel_lists_every_package_of_the_project_but_the_tests() -> None:
    packages = {path.parent.name for path in PROJECT.glob("*/__init__.py")} - {"tests"}
    assert sorted(WHEEL["packages"]) == sorted(packages)


def test_the_wheel_carries_pyproject_toml_where_the_defaults_are_read_from() -> None:
    # An installed wheel has no project folder: pyproject_defaults reads fedrec/pyproject.toml there.
    assert WHEEL["force-include"] == {"pyproject.toml": "fedrec/pyproject.toml"}
    assert pyproject_defaults() == PYPROJECT["tool"]["flwr"]["app"]["config"]


def test_the_app_bundle_flwr_run_builds_holds_the_apps_code_and_not_the_shipped_results() -> None:
    """`flwr run` bundles the project for every run; the packages the ServerApp and ClientApp import are in it,
    the results, docs and scripts (about 1,200 files, a second of every run) are not."""
    tops = {name.split("/")[0] for name in zipfile.ZipFile(io.BytesIO(build_fab_from_disk(PROJECT))).namelist()}
    probe = "import sys, server_app.app, client_app.app; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True)
    imported = {name.split(".")[0] for name in loaded.stdout.split()} & set(WHEEL["packages"])
    assert imported <= tops, f"imported by the apps but not bundled: {sorted(imported - tops)}"
    assert not tops & {"results", "docs", "tests", "experiments", "bench"}
