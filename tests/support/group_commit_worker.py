"""A worker process for the group-commit crash test: runs ``n`` concurrent commands (counter ``<prefix>-<i>``)
through the command runner on PostgreSQL and prints ``ack <counter id>`` (flushed) as each answer arrives —
what a client would have been told."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from shared.db import create_pool
from shared.unit_of_work.core import UnitOfWork
from shared.unit_of_work.postgres import postgres_units_of_work
from shared.unit_of_work.retry import CommandRunner
from tests.support.unit_of_work_contract import CATALOG, CONTEXT, NOW, Counter


async def main(dsn: str, prefix: str, n: int) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=4)
    runner: CommandRunner[UnitOfWork] = CommandRunner(postgres_units_of_work(pool, CATALOG), lambda: NOW)

    async def command(counter_id: str) -> None:
        async def decide(uow: UnitOfWork, now: datetime) -> None:
            counter = Counter(counter_id)
            counter.count(1)
            uow.add(counter)

        await runner.run(decide, CONTEXT)
        print(f"ack {counter_id}", flush=True)

    await asyncio.gather(*(command(f"{prefix}-{i}") for i in range(n)))
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
