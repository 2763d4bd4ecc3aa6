"""Shared test fixtures and paths."""

from pathlib import Path

import pytest

from fedrec.config import make_config  # noqa: F401  (re-exported for tests)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The machine's real datasets beside the project; tests needing them skip where absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
