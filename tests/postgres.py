"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, the
server on a free loopback port (and a unix socket in the same directory), trust
authentication, stopped at the end of the session.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
user (Debian's package creates it). Binaries come from ``ARENA_PG_BIN`` or Debian's
``/usr/lib/postgresql/<version>/bin``; without them :func:`find_bin_dir` returns
``None`` and the PostgreSQL tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

__all__ = [
    "PostgresServer",
    "PostgresStartError",
    "find_bin_dir",
    "running_postgres",
    "skip_reason",
]


class PostgresStartError(RuntimeError):
    """``initdb`` or ``pg_ctl`` failed; the message holds the command and what it printed."""


def _run(command: list[str], timeout: float) -> None:
    """Run a set-up command; on failure raise :class:`PostgresStartError` with its stderr."""
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or b"").decode(errors="replace").strip() or "(nothing on stderr)"
        raise PostgresStartError(
            f"{' '.join(command)} exited with {exc.returncode}:\n{output}"
        ) from None
    except subprocess.TimeoutExpired as exc:
        output = (exc.stderr or b"").decode(errors="replace").strip() or "(nothing on stderr)"
        raise PostgresStartError(
            f"{' '.join(command)} did not finish within {timeout} s:\n{output}"
        ) from None


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``ARENA_PG_BIN``, else Debian's newest version."""
    configured = os.environ.get("ARENA_PG_BIN")
    candidates = (
        [Path(configured)]
        if configured
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def skip_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or ``None`` if they can."""
    if find_bin_dir() is None:
        where = os.environ.get("ARENA_PG_BIN") or "/usr/lib/postgresql/*/bin"
        return (
            f"PostgreSQL server binaries (initdb, pg_ctl) not found in {where}; "
            "install Debian's postgresql (scripts/setup.sh does) or set ARENA_PG_BIN"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


INITDB_OPTIONS = ("-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server for tests."""

    port: int
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = "arena_" + uuid.uuid4().hex[:12]
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres")
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server in a temporary directory; stop and delete it on exit."""
    bin_dir = find_bin_dir()
    assert bin_dir is not None, skip_reason()
    root = Path(tempfile.mkdtemp(prefix="arena-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    port = _free_port()
    try:
        _run([*as_user, str(bin_dir / "initdb"), "-D", str(data), *INITDB_OPTIONS], 120)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
        pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
        try:
            _run([*pg_ctl, "-l", str(root / "log"), "-o", options, "-w", "-t", "60", "start"], 90)
        except PostgresStartError as exc:  # the server's own log says why it did not start
            server_log = root / "log"
            text = server_log.read_text(errors="replace") if server_log.exists() else ""
            raise PostgresStartError(f"{exc}\nserver log:\n{text.strip()}") from None
        try:
            yield PostgresServer(port=port, socket_dir=root)
        finally:
            subprocess.run(
                [*pg_ctl, "-m", "immediate", "stop"],
                check=False,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
