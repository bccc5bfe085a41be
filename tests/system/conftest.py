"""Shared plumbing for Nagar's system tests.

System tests start real processes (PostgreSQL, nagar-broker, workers) on
free loopback ports inside a per-test temporary directory and always stop
them, with deadlines on every wait. Fixtures that belong to one subsystem
live in their own module (pg_fixtures.py, bus_fixtures.py, ...), registered
here once as plugins so that a session-scoped fixture (one PostgreSQL
cluster, one identity database) really is set up once per session. Test
files use the fixtures by name and must not import them.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from nagar_proc import build_dir, nagar_bin, procs  # noqa: E402,F401  (fixtures)

# Every tests/system/*_fixtures.py is a plugin: adding a service's fixtures
# needs no edit here.
pytest_plugins = sorted(name[:-3] for name in os.listdir(os.path.dirname(__file__))
                        if name.endswith("_fixtures.py"))
