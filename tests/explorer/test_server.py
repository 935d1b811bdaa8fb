"""The explorer's server: read-only, runs by name only, its own scripts only, and errors
that name the run instead of tracebacks."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from importlib.resources import files

from starlette.testclient import TestClient

from tests.explorer.conftest import cli_json
from vpp.runs.explorer.app import create_app, exposed


def _client(*roots) -> TestClient:
    return TestClient(create_app(list(roots)), base_url="http://127.0.0.1")


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def test_every_view_reads_and_changes_nothing(default_run, admm_run, runs_root):
    before = {p: _digest(p) for p in (default_run, admm_run)}
    client = _client(runs_root)
    names = {r["name"] for r in client.get("/api/runs").json()}
    assert {"default", "admm"} <= names
    for path in ("/api/run/default/overview", "/api/run/default/steps",
                 "/api/run/default/step/82", "/api/run/admm/admm", "/api/run/admm/card",
                 "/api/compare/default/admm", "/api/run/default/version"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
    assert client.post("/api/run/default/overview").status_code == 405
    after = {p: _digest(p) for p in (default_run, admm_run)}
    for run in (default_run, admm_run):
        # every file is as it was; SQLite may add an empty -wal beside a WAL database that
        # a read-only connection opened (and a -shm, its lock index, left out here)
        assert {k: v for k, v in after[run].items() if k in before[run]} == before[run]
        for added in set(after[run]) - set(before[run]):
            assert added.endswith("-wal") and (run / added).stat().st_size == 0


def test_a_step_holds_as_many_events_as_the_cli_lists(default_run):
    client = _client(default_run.parent)
    for step in (5, 82):
        got = client.get(f"/api/run/default/step/{step}").json()
        listed = cli_json("trace", "messages", str(default_run), "--step", str(step))
        assert got["counts"]["events"] == len(listed) == len(got["events"])
        assert [b for b in got["bodies"]] == [m["body"] for m in listed]


def test_run_names_never_reach_outside_the_folders_served(tmp_path, default_run):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copytree(default_run, served / "inside")
    outside = tmp_path / "outside"
    shutil.copytree(default_run, outside)
    (served / "link-out").symlink_to(outside, target_is_directory=True)
    client = _client(served)
    assert [r["name"] for r in client.get("/api/runs").json()] == ["inside"]
    assert client.get("/api/run/inside/card").status_code == 200
    for name in ("outside", "link-out", "..", "..%2Foutside", "%2e%2e%2foutside",
                 "%2Fetc%2Fpasswd", "inside%2F..%2F..%2Foutside", str(outside).replace("/", "%2F")):
        response = client.get(f"/api/run/{name}/overview")
        assert response.status_code == 404, name
    assert client.get("/api/run/inside/overview/../../outside").status_code == 404
    assert client.get("/static/..%2F__init__.py").status_code == 404
    assert client.get("/static/../record.py").status_code == 404


def test_pages_load_only_their_own_scripts(runs_root, default_run):
    client = _client(runs_root)
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert "http" not in page.text.replace('lang="en"', "")
    plotly = client.get("/static/plotly.min.js")
    assert plotly.content == (files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    # a page elsewhere that rebinds its name to 127.0.0.1 is refused
    evil = TestClient(create_app([runs_root]), base_url="http://attacker.example")
    assert evil.get("/api/runs").status_code == 400


def test_a_damaged_trace_is_an_error_naming_the_run(tmp_path, default_run):
    broken = tmp_path / "broken"
    (broken / "trace").mkdir(parents=True)
    (broken / "trace" / "local.sqlite").write_bytes(b"this is not SQLite" * 100)
    client = _client(tmp_path)
    response = client.get("/api/run/broken/overview")
    assert response.status_code == 422 and "broken" in response.json()["error"]
    assert client.get("/api/run/broken/step/abc").status_code == 400
    assert client.get("/api/run/nope/overview").status_code == 404
    assert client.get("/api/run/broken/nonsense").status_code in (404, 422)


def test_serve_without_the_explorer_extra_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from vpp.runs.cli import app\n"
            f"app(['trace', 'serve', {str(tmp_path)!r}])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "pip install 'vpp-swarm[explorer]'" in done.stderr and "uvicorn" in done.stderr
    assert "Traceback" not in done.stderr


def test_only_loopback_addresses_count_as_private():
    assert [exposed(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2")] == [
        False] * 5
    assert [exposed(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org")] == [True] * 4
