"""One import root: installed, the repository's folders are `vpp.*`, and nothing else of
ours is on a user's top level."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("agents", "coordination", "markets", "physics", "runs")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_installed_under_vpp():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {"vpp." + ".".join(p.parent.relative_to(ROOT).parts)
             for top in FOLDERS for p in (ROOT / top).rglob("__init__.py")
             if "api" not in p.parent.relative_to(ROOT).parts}
    api = ROOT / "runs" / "api"      # the `vpp` package itself and its subpackages
    found |= {".".join(("vpp", *p.parent.relative_to(api).parts)) for p in api.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set()


def test_installed_names_are_vpp_only(tmp_path):
    """From a folder outside the checkout: the `vpp` packages import, the bare folder names
    do not, and importing the command line puts no bare name in sys.modules."""
    code = (
        "import importlib.util, sys\n"
        "import vpp, vpp.agents, vpp.runs, vpp.runs.cli\n"
        f"bare = [n for n in {FOLDERS!r} if importlib.util.find_spec(n) is not None]\n"
        f"loaded = [n for n in sys.modules if n.split('.')[0] in {FOLDERS!r}]\n"
        "print(bare, loaded, vpp.__version__ != '')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[] [] True"
