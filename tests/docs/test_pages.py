"""The examples on the documentation pages run as written."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES_WITH_EXAMPLES = ["autoregressive.md"]


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_page_examples_run(page):
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{page} has no example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {page} failed"
