"""The benchmark harness's smoke mode (`bench/run.sh --smoke`): every scenario of issue 7
for a moment, against the same binaries the rest of the suite uses, so the harness cannot
rot. It measures nothing worth reading and never touches bench/README.md; it fails when
any scenario sees an error, an unexpected status or a failure event.

nginx and the LiteLLM proxy take part only if they are already installed (the smoke mode
installs nothing)."""

import os
import pathlib
import subprocess

from conftest import BINARY, ROOT


def test_bench_smoke():
    env = dict(os.environ, SPILLWAY_BIN=str(BINARY))
    # The same build as the rest of the suite (scripts/test.sh builds every binary of the
    # workspace, debug, before pytest): bench-mock and bench-load from beside spillway,
    # built here only if they are missing.
    if all((BINARY.parent / b).exists() for b in ("bench-mock", "bench-load")):
        env["BENCH_BIN_DIR"] = str(BINARY.parent)
        how = ["--no-build"]
    else:
        how = ["--debug"]
    out = subprocess.run(
        [str(ROOT / "bench" / "run.sh"), "--smoke", "--no-install", *how],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = f"stdout:\n{out.stdout[-6000:]}\nstderr:\n{out.stderr[-4000:]}"
    assert out.returncode == 0, tail
    assert "| spillway Converse |" in out.stdout, tail
    assert "| spillway ConverseStream |" in out.stdout, tail
    assert "re-routed from us-east-1 to us-west-2" in out.stdout, tail
    assert "Failures" not in out.stdout, tail
    assert pathlib.Path(ROOT / "bench" / "README.md").exists()
