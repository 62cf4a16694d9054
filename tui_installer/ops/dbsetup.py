"""Create a service's MariaDB databases and user over the local socket, the password from the environment.

``python -m tui_installer.ops.dbsetup --user nova --password-env DB_PASSWORD nova_api nova nova_cell0``

Root reaches MariaDB through its unix socket (Debian's ``unix_socket`` authentication), so no admin
password exists to leak; the service's password travels from the environment to ``mysql``'s standard
input, never through argv. Each database is recorded in ``/etc/tui-installer/databases/<db>`` (content:
the user) so that ``uninstall --purge`` can drop exactly what was created. Idempotent: existing
databases are kept, the user's password is (re)set.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

RECORD_DIR = Path("/etc/tui-installer/databases")
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def sql_string(value: str) -> str:
    """A MariaDB string literal: backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def create_sql(user: str, password: str, databases: list[str], hosts: tuple[str, ...]) -> str:
    for name in [user, *databases]:
        if not _NAME.match(name):
            raise ValueError(f"invalid database or user name {name!r}")
    pw = sql_string(password)
    lines = [f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4;" for db in databases]
    for host in hosts:
        account = f"'{user}'@{sql_string(host)}"
        lines += [f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {pw};",
                  f"ALTER USER {account} IDENTIFIED BY {pw};"]
        lines += [f"GRANT ALL PRIVILEGES ON `{db}`.* TO {account};" for db in databases]
    return "\n".join(lines + ["FLUSH PRIVILEGES;", ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tui_installer.ops.dbsetup")
    p.add_argument("databases", nargs="+")
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True, help="environment variable holding the password")
    p.add_argument("--host", action="append", dest="hosts", help="account hosts (localhost, 127.0.0.1)")
    p.add_argument("--record-dir", type=Path, default=RECORD_DIR)
    args = p.parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        print(f"dbsetup: environment variable {args.password_env} is not set", file=sys.stderr)
        return 2
    try:
        sql = create_sql(args.user, password, args.databases, tuple(args.hosts or ("localhost", "127.0.0.1")))
    except ValueError as exc:
        print(f"dbsetup: {exc}", file=sys.stderr)
        return 2
    done = subprocess.run(["mysql", "-u", "root"], input=sql, text=True)
    if done.returncode != 0:
        return done.returncode
    args.record_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for db in args.databases:
        (args.record_dir / db).write_text(args.user + "\n")
    print(f"databases {', '.join(args.databases)} ready for user {args.user}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
