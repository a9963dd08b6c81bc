"""Location of the read-only shared data (``../shared/data`` beside the repository)."""

from pathlib import Path

import pytest

SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def needs_shared(folder: str):
    present = (SHARED_DATA / folder).is_dir()
    return pytest.mark.skipif(not present, reason=f"{SHARED_DATA / folder} is absent")
