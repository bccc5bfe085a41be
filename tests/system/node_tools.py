"""The test-only npm tools in tests/tools (package.json and its lock):
installed once with `npm ci`, then reused."""
import os
import shutil
import subprocess

import pytest

from nagar_proc import ROOT

TOOLS = os.path.join(ROOT, "tests", "tools")


def node_tools_dir():
    """tests/tools, with node_modules installed from package-lock.json."""
    marker = os.path.join(TOOLS, "node_modules", ".package-lock.json")
    lock = os.path.join(TOOLS, "package-lock.json")
    if not os.path.exists(marker) or os.path.getmtime(marker) < os.path.getmtime(lock):
        if not shutil.which("npm"):
            pytest.fail("npm is needed for the test tools in tests/tools: apt-get install npm")
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOLS,
                                capture_output=True, timeout=600)
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    return TOOLS
