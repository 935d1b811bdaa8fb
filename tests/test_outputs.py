"""Outputs checked before work starts (issue #19, finding 6): a run directory in use is
refused naming its holder, a finished one unless --overwrite, an unwritable one at once;
a full disk ends the run with a clear error and a trace that opens with what was
recorded; secret keys are written 0600 in a 0700 folder beside a .gitignore."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner
from vpp.agents.runtime.security import load_public, load_secret
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.cli import app
from vpp.runs.record.claim import OutputError, claim

from tests.proc_helpers import ROOT, small_scenario, stop_all, wait_for

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()


def _steps(run_dir):
    reader = TraceReader(run_dir)
    try:
        return [s["step"] for s in reader.steps()]
    finally:
        reader.close()


def test_a_second_run_into_the_same_out_is_refused_naming_the_holder(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    out = tmp_path / "run"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # an aggregator waiting for its sites holds the folder
    first = subprocess.Popen(
        [sys.executable, "-m", "vpp.runs.cli", "aggregator", str(path), "--bind",
         f"tcp://127.0.0.1:{port}", "--insecure", "--out", str(out), "--join-timeout-s", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (out / ".vpp-run.lock").exists()
                        and (out / ".vpp-run.lock").stat().st_size > 0, 30)
        second = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-plot"])
    finally:
        first.terminate()
        stop_all([first])
    assert second.exit_code == 1
    text = " ".join(second.output.split())
    assert f"--out {out}: in use by pid {first.pid} on {socket.gethostname()}" in text
    assert "vpp aggregator" in text and "since 20" in text
    assert not (out / "summary.json").exists()  # the second run did no work


def test_a_finished_run_is_refused_unless_overwrite_and_never_double_counted(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    out = tmp_path / "run"
    first = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-plot"])
    assert first.exit_code == 0, first.output
    assert _steps(out) == [0, 1]
    again = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-plot"])
    assert again.exit_code == 1
    assert "holds a run already (summary.json, trace/local.sqlite)" in " ".join(
        again.output.split())
    replaced = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-plot",
                                   "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert _steps(out) == [0, 1]  # one run's steps, not two


def test_an_unwritable_out_is_refused_before_any_work(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = runner.invoke(app, ["run", str(path), "--out", str(blocked / "run"), "--no-plot"])
    assert result.exit_code == 1 and "cannot make the folder" in result.output
    result = runner.invoke(app, ["aggregator", str(path), "--bind", "ipc://x", "--out",
                                 str(blocked)])
    assert result.exit_code == 1 and "not a folder" in result.output
    # a site process and its run's owner may share a folder; two site processes with one
    # host name may not
    lock = claim(tmp_path / "shared", name="site-north", fresh=False)
    try:
        claim(tmp_path / "shared", name="run").release()
        with pytest.raises(OutputError, match=rf"in use by pid {os.getpid()}"):
            claim(tmp_path / "shared", name="site-north", fresh=False)
    finally:
        lock.release()


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (262144, 262144))
sys.argv = ["vpp", *sys.argv[1:]]
from vpp.runs.cli import app
app()
"""


def test_a_full_disk_ends_the_run_with_an_error_and_a_trace_that_opens(tmp_path):
    """A file size limit of 256 KiB (``ulimit -f``: the disk full for this process, without
    root) stops a 96-step run part way: exit 1, one clear error, no traceback, and the trace
    holds the steps flushed before it."""
    path = small_scenario(tmp_path, steps=96)
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, "run", str(path), "--out",
                           str(out), "--no-plot"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 1, done.stderr
    err = " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert f"error: {out}: no room left to write" in err
    assert "may not write files over 262144 bytes (ulimit -f)" in err
    steps = _steps(out)
    assert 0 < len(steps) < 96 and steps == list(range(len(steps)))
    assert not (out / "summary.json").exists()


def test_keys_new_writes_the_secret_0600_in_a_0700_folder_beside_a_gitignore(tmp_path):
    d = tmp_path / "vpp-keys"
    result = runner.invoke(app, ["keys", "new", "north", "--dir", str(d)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "north.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "north.key").stat().st_mode) == 0o644
    assert "*.key_secret" in (d / ".gitignore").read_text().splitlines()
    public, secret = load_secret(d / "north.key_secret")
    assert load_public(d / "north.key") == public and len(secret) == 40
    assert secret.decode() not in (d / "north.key").read_text()
    # git itself ignores the secret and not the public key
    git = subprocess.run(["git", "init", "-q", str(tmp_path)], capture_output=True)
    if git.returncode == 0:
        ignored = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "-q",
                                  "vpp-keys/north.key_secret"])
        public_ignored = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "-q",
                                         "vpp-keys/north.key"])
        assert ignored.returncode == 0 and public_ignored.returncode == 1


def test_a_full_disk_ends_the_aggregator_with_an_error_and_a_trace_that_opens(tmp_path):
    """The same for ``vpp aggregator`` with a site process: the aggregator exits 1 with one
    clear error; its shard opens with the steps flushed before the limit was hit."""
    from tests.proc_helpers import start_site

    path = small_scenario(tmp_path, steps=96)
    out = tmp_path / "run"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agg = subprocess.Popen(
        [sys.executable, "-c", _FULL_DISK, "aggregator", str(path), "--bind",
         f"tcp://127.0.0.1:{port}", "--insecure", "--out", str(out), "--join-timeout-s", "30"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    site = start_site(path, f"tcp://127.0.0.1:{port}", [], tmp_path / "site-run", "--insecure")
    try:
        agg.wait(timeout=90)
    finally:
        site.terminate()
        stop_all([agg, site])
    err = " ".join(agg.stderr.read().split())
    assert agg.returncode == 1, err
    assert "Traceback" not in err and f"error: {out}: no room left to write" in err
    steps = _steps(out)
    assert 0 < len(steps) < 96 and steps == list(range(len(steps)))
