"""The README and the documentation pages name only things that exist: every link and image target, every
repository path they mention."""

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
#: The README (links relative to the repository root) and the site's pages (links relative to docs/).
PAGES = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
TOP_LEVEL = "|".join(
    re.escape(path.name) for path in PROJECT.iterdir() if path.is_dir() and not path.name.startswith((".git", "__"))
)
# A repository path: starts with a top-level folder of the project; stops at a placeholder (`<name>`) or glob.
PATH = re.compile(rf"(?<![\w/.~$-])((?:{TOP_LEVEL}|\.ci)/[\w./@-]*)(?![\w<*{{./@-])")
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: Files the pages ask the reader to create (the "write your own defense" example).
EXAMPLES = {"strategies/geometric_median.py"}


def _name(page: Path) -> str:
    return page.relative_to(PROJECT).as_posix()


def _mentioned_paths() -> list[tuple[str, str]]:
    return sorted(
        (_name(page), path)
        for page in PAGES
        for path in {match.rstrip(".") for match in PATH.findall(page.read_text())} - EXAMPLES
    )


def _link_targets() -> list[tuple[str, str]]:
    return sorted(
        (_name(page), target)
        for page in PAGES
        for target in set(LINK.findall(page.read_text()))
        if not target.startswith(("http://", "https://", "#"))
    )


def test_the_scan_finds_paths_and_links() -> None:
    assert ("README.md", "docs/attack-experiments.md") in _link_targets()
    assert ("docs/defenses.md", "defense-experiments.md") in _link_targets()
    assert {"experiments/run.py", "results/experiments/", ".ci/run"} <= {path for _, path in _mentioned_paths()}


@pytest.mark.parametrize(("page", "target"), _link_targets())
def test_every_link_and_image_target_exists(page: str, target: str) -> None:
    assert ((PROJECT / page).parent / target.split("#")[0]).exists(), f"{page} links to {target}, which does not exist"


@pytest.mark.parametrize(("page", "path"), _mentioned_paths())
def test_every_repository_path_a_page_names_exists(page: str, path: str) -> None:
    # A module may be named without its suffix (fedrec/dense for fedrec/robust/dense.py).
    exists = (PROJECT / path).exists() or (PROJECT / f"{path}.py").exists()
    assert exists, f"{page} names {path}, which is not in the repository"
