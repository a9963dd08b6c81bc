"""A griffe extension for the API reference: ``Example:`` sections are read as ``Examples:``.

maflow's docstrings title their doctests ``Example:``; griffe's Google-style parser knows only
``Examples:``, and would otherwise render the doctests as prose instead of code.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
