"""The README names only things that exist: every link and image target, every repository path it mentions."""

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
README = (PROJECT / "README.md").read_text()
TOP_LEVEL = "|".join(
    re.escape(path.name) for path in PROJECT.iterdir() if path.is_dir() and not path.name.startswith((".git", "__"))
)
# A repository path: starts with a top-level folder of the project; stops at a placeholder (`<name>`) or glob.
PATH = re.compile(rf"(?<![\w/.~$-])((?:{TOP_LEVEL}|\.ci)/[\w./@-]*)(?![\w<*{{./@-])")
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: Files the README asks the reader to create (its "your own strategy" example).
EXAMPLES = {"strategies/geometric_median.py"}


def _mentioned_paths() -> list[str]:
    return sorted({match.rstrip(".") for match in PATH.findall(README)} - EXAMPLES)


def _link_targets() -> list[str]:
    return sorted({target for target in LINK.findall(README) if not target.startswith(("http://", "https://", "#"))})


def test_the_scan_finds_paths_and_links() -> None:
    assert "docs/attack-experiments.md" in _link_targets()
    assert {"experiments/run.py", "fedrec/protocol.py", ".ci/run"} <= set(_mentioned_paths())


@pytest.mark.parametrize("target", _link_targets())
def test_every_link_and_image_target_exists(target: str) -> None:
    assert (PROJECT / target.split("#")[0]).exists(), f"README links to {target}, which is not in the repository"


@pytest.mark.parametrize("path", _mentioned_paths())
def test_every_repository_path_the_readme_names_exists(path: str) -> None:
    # A module may be named without its suffix (fedrec/dense for fedrec/robust/dense.py).
    exists = (PROJECT / path).exists() or (PROJECT / f"{path}.py").exists()
    assert exists, f"README names {path}, which is not in the repository"
