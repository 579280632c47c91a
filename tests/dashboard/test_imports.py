"""Each dashboard module imports on its own, whichever is imported first (a test that imports one module
alone once met a circular import that the app, importing them in its own order, never did)."""

import subprocess
import sys
from pathlib import Path

MODULES = sorted(
    f"dashboards.{p.stem}"
    for p in (Path(__file__).resolve().parents[2] / "dashboards").glob("*.py")
    if p.stem != "streamlit_app"
)
# One interpreter; before each module, every dashboards module is forgotten, so each is imported first.
PROBE = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "dashboards" or m.startswith("dashboards.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as error:
        failed.append(f"{name}: {error}")
print("\\n".join(failed))
"""


def test_every_module_imports_first():
    done = subprocess.run([sys.executable, "-c", PROBE, *MODULES], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout
