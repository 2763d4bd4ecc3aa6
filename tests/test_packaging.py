"""`pip install .` (not editable) gives a working app: the wheel lists every package and carries the defaults."""

import tomllib
from pathlib import Path

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
