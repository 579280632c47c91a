"""Each dashboard module imports on its own, whichever is imported first (a test that imports one module
alone once met a circular import that the app, importing them in its own order, never did)."""

import subprocess
import sys
from pathlib import Path

import pytest

MODULES = sorted(
    f"dashboards.{p.stem}"
    for p in (Path(__file__).resolve().parents[2] / "dashboards").glob("*.py")
    if p.stem != "streamlit_app"
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
