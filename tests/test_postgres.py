"""The throwaway PostgreSQL server of the tests says why it could not start: a failing
``initdb`` is reported with what it printed on stderr."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.postgres import PostgresStartError, running_postgres


def test_a_failing_initdb_is_reported_with_its_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """``initdb`` exiting with an error makes the start fail with its stderr quoted."""
    bin_dir = Path(tempfile.mkdtemp(prefix="arena-fake-pg-"))
    try:
        bin_dir.chmod(0o755)  # readable by the postgres user the server runs as under root
        for name, script in (
            ("initdb", "echo 'initdb: error: directory is not empty' >&2; exit 1"),
            ("pg_ctl", "exit 0"),
        ):
            path = bin_dir / name
            path.write_text(f"#!/bin/sh\n{script}\n")
            path.chmod(0o755)
        monkeypatch.setenv("ARENA_PG_BIN", str(bin_dir))
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        with pytest.raises(PostgresStartError) as caught, running_postgres():
            pass
        message = str(caught.value)
        assert "initdb" in message and "exited with 1" in message
        assert "initdb: error: directory is not empty" in message
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
