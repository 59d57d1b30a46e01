"""Fixtures shared across areas: the quick zoo, built once per test session as a user builds it."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The `bigmodel` command as a user runs it, from this test environment.
BIGMODEL = [sys.executable, "-m", "bigmodel.cli"]


# One torch thread per CLI process: on 2 shared cores, two threads each made small models many
# times slower.
CLI_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_bigmodel(*args: str, check: bool = False, timeout: float = 900, input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*BIGMODEL, *args], capture_output=True, text=True, timeout=timeout, input=input, env=CLI_ENV)
    if check and result.returncode != 0:
        raise AssertionError(f"bigmodel {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def bigmodel_cli():
    """Runs `bigmodel ARGS...` in a subprocess and returns the completed process."""
    return run_bigmodel


@pytest.fixture(scope="session")
def cli():
    """Like `bigmodel_cli`, but a non-zero exit fails the test unless `check=False`."""
    return functools.partial(run_bigmodel, check=True)


@pytest.fixture(scope="session")
def quick_zoo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`bigmodel zoo --quick`: every family's member, built, evaluated and reported (CI's end-to-end run)."""
    root = tmp_path_factory.mktemp("zoo") / "zoo"
    result = run_bigmodel("zoo", "--quick", "--out", str(root))
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result
