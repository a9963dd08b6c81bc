"""Test-session settings shared by every test module."""

import os

from hypothesis import settings

# CI explores the same examples every run (a red CI must be reproducible); locally, hypothesis
# keeps searching new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA (skipped without it; pytest -m gpu runs only these)")
