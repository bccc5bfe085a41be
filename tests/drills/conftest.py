"""Drills: the suite as deployed, attacked, crashed and restored. Each drill
builds its own suite (tests/drills/suite.py) in a fresh directory and tears
it down, and prints the figures the operations issue asks for. Run with
`make drills` (BUILD=build/asan) or
`BUILD=build/<dir> /usr/bin/python3 -m pytest tests/drills -q -s`."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from suite import Suite, make_base_dir  # noqa: E402


@pytest.fixture
def suite_factory():
    made = []

    def make(backup=False):
        suite = Suite(make_base_dir(), backup=backup)
        made.append(suite)
        return suite
    yield make
    for suite in made:
        suite.stop()
