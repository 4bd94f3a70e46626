"""Ops command: rebuild the after-sales read tables from the event store.
``python -m services.aftersales.rebuild`` (reads ``AFTERSALES_DATABASE_URL``; safe while the service runs)."""

from __future__ import annotations

import asyncio

from services.aftersales.adapters.rebuild import rebuild_read_tables
from services.aftersales.main import MIGRATIONS, SERVICE, AftersalesSettings
from shared.runtime.bootstrap import prepare_database
from shared.settings import load_settings


async def rebuild(dsn: str) -> int:
    pool = await prepare_database(dsn, service=SERVICE, migrations=MIGRATIONS, min_size=1, max_size=2)
    try:
        return await rebuild_read_tables(pool)
    finally:
        await pool.close()


def main() -> None:
    settings = load_settings(AftersalesSettings)
    streams = asyncio.run(rebuild(settings.database_url))
    print(f"rebuilt the after-sales read tables from {streams} streams")


if __name__ == "__main__":
    main()
