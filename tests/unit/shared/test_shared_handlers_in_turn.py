"""Handler tables combined for one consumer: a type several tables handle runs every handler, in the tables'
order; a type only one handles keeps that handler as it is."""

from __future__ import annotations

from typing import Any

from shared.messaging.inbound import EventHandler, handlers_in_turn


def recorder(log: list[str], name: str) -> EventHandler:
    async def handle(conn: Any, event: Any) -> None:
        log.append(f"{name}:{event}")
    return handle


async def test_a_type_handled_by_several_tables_runs_each_handler_in_the_tables_order() -> None:
    log: list[str] = []
    only_first = recorder(log, "first-only")
    combined = handlers_in_turn({"A": recorder(log, "first"), "B": only_first},
                                {"A": recorder(log, "second"), "C": recorder(log, "third")})
    assert set(combined) == {"A", "B", "C"}
    assert combined["B"] is only_first
    await combined["A"](None, "e1")  # type: ignore[arg-type]
    await combined["C"](None, "e2")  # type: ignore[arg-type]
    assert log == ["first:e1", "second:e1", "third:e2"]
