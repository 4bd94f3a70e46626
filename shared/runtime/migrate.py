"""Apply a service's migrations and exit: ``python -m shared.runtime.migrate <service> <folder>``.

Every service already migrates its database at start-up (serialised by an advisory lock, so replicas can start
together). This command does the same work alone, for a deployment step that runs before the new version's pods
(the Kubernetes migration Job in deploy/k8s): a migration that fails then stops the rollout instead of every pod's
start-up. The database URL is the service's own setting, ``<SERVICE>_DATABASE_URL``; the folder is passed in
because the kernel knows no service (in the image: ``services/<service>/migrations``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shared.db import connect
from shared.migrations import KERNEL_MIGRATIONS, MigrationError, migrate


async def apply(dsn: str, service: str, folder: Path) -> list[str]:
    conn = await connect(dsn)
    try:
        return await migrate(conn, [("kernel", KERNEL_MIGRATIONS), (service, folder)])
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.runtime.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("service", help="the service whose database to migrate: leads, orders, aftersales, reporting")
    parser.add_argument("folder", type=Path, help="the service's migrations folder, e.g. services/leads/migrations")
    args = parser.parse_args(argv)
    variable = f"{args.service.upper()}_DATABASE_URL"
    dsn = os.environ.get(variable)
    if not dsn:
        print(f"migrate: {variable} is not set (the postgresql:// URL of the {args.service} database)", file=sys.stderr)
        return 2
    if not args.folder.is_dir():
        print(f"migrate: folder: {args.folder} is not a directory", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(apply(dsn, args.service, args.folder))
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {args.service}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
