"""A throw-away PostgreSQL server on 127.0.0.1, started from Debian's server binaries.

PostgreSQL refuses to run as root, and CI runs as root: there, initdb/pg_ctl run as the ``postgres``
OS user (``runuser``) on a data directory it owns. The cluster is tuned for tests (no fsync): it is
thrown away with its directory when the session ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "run scripts/install_system_deps.sh"
SERVER_USER = "postgres"  # the OS user Debian's postgresql package creates
DATABASE_USER = "billing"


class PostgresUnavailable(RuntimeError):
    """The machine cannot run a local PostgreSQL server (the reason says what is missing)."""


class PostgresCommandFailed(RuntimeError):
    """initdb or pg_ctl failed on a machine that has them: a real error, not a reason to skip."""


def find_server_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, else the PATH's."""

    def version(path: str) -> int:
        major = Path(path).parents[1].name
        return int(major) if major.isdigit() else 0

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path and shutil.which("pg_ctl"):
        return Path(initdb_on_path).parent
    raise PostgresUnavailable(f"PostgreSQL server binaries not found: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One running cluster; ``url(db)`` gives SQLAlchemy URLs, ``dagster_env(db)`` Dagster's variables."""

    bin_dir: Path
    root: Path
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    host: str = "127.0.0.1"
    user: str = DATABASE_USER

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def dagster_env(self, database: str) -> dict[str, str]:
        """The variables deploy/dagster.production.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password)
        self._hand_over(pwfile)
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.user,
                "--pwfile",
                str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        # the free port is probed, then bound by the server: another process may take it in
        # between, so a failed start is retried on a new port
        for attempt in range(3):
            self.port = free_port()
            try:
                self._pg_ctl_start()
                return
            except PostgresCommandFailed:
                if attempt == 2 or "could not bind" not in self.log_tail():
                    raise

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-c listen_addresses={self.host}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run("pg_ctl", "start", "--pgdata", str(self.data_dir), "--wait", "--timeout=60",
                  "--log", str(self.log_file), "-o", options)  # fmt: skip

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode=fast", "--wait", "--timeout=60")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> PostgresDatabase:
        """Create an empty database ``name``, owned by the test user."""
        import psycopg

        with psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # test-chosen identifier, never user input
        return PostgresDatabase(self, name)

    def log_tail(self, characters: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    # -- running the server binaries as a non-root user ---------------------------------------
    def _as_server_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        if shutil.which("runuser"):
            return ["runuser", "-u", SERVER_USER, "--"]
        return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups"]

    def _hand_over(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        owner = pwd.getpwnam(SERVER_USER)
        for path in (self.root, *paths):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_server_user(), str(self.bin_dir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise PostgresCommandFailed(
                f"{tool} failed with exit status {done.returncode}: {done.stderr.strip() or done.stdout.strip()}"
                f"\n{self.log_tail()}"
            )


def start_server() -> PostgresServer:
    """Start a fresh cluster in a new temp dir; raises ``PostgresUnavailable`` with the reason."""
    bin_dir = find_server_binaries()
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError as missing:
            raise PostgresUnavailable(
                f"PostgreSQL refuses to run as root and there is no '{SERVER_USER}' OS user: {INSTALL_HINT}"
            ) from missing
        if not (shutil.which("runuser") or shutil.which("setpriv")):
            raise PostgresUnavailable("running PostgreSQL as root needs runuser or setpriv (util-linux)")
    # the system temp dir, not pytest's (mode 0700 under root's name): the server user must reach it
    server = PostgresServer(bin_dir=bin_dir, root=Path(tempfile.mkdtemp(prefix="billing-postgres-")))
    try:
        server.start()
    except BaseException:
        with contextlib.suppress(PostgresCommandFailed):
            server.stop()
        server.remove()
        raise
    return server


@dataclass(frozen=True)
class PostgresDatabase:
    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver), e.g. for ``BILLING_LEDGER_URL``."""
        return self.server.url(self.name)

    def dagster_env(self) -> dict[str, str]:
        return self.server.dagster_env(self.name)
