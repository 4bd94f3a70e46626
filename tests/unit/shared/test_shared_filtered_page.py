"""shared.pagination.filtered_page: pages of a list filtered after the query are full while visible rows remain,
show every visible row once, ask the query for no more than it must, and refuse a cursor of another list."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shared.domain import InvalidFieldError
from shared.pagination import KeyValue, Page, encode_cursor, filtered_page

ROWS = list(range(1, 31))  # the table, in key order


async def pages(visible: set[int], limit: int, fetched: list[int]) -> list[list[int]]:
    async def fetch(after: tuple[KeyValue, ...] | None, n: int) -> Sequence[int]:
        fetched.append(n)
        start = 0 if after is None else ROWS.index(int(after[0])) + 1
        return ROWS[start:start + n]

    out: list[list[int]] = []
    cursor = None
    while True:
        page: Page[int] = await filtered_page("numbers", cursor, limit, (int,), fetch=fetch,
                                              keep=lambda rows: [r for r in rows if r in visible],
                                              key_of=lambda r: (r,))
        out.append(page.items)
        if (cursor := page.next_cursor) is None:
            return out


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
async def test_every_visible_row_once_in_full_pages_with_invisible_rows_between(limit: int) -> None:
    visible = {n for n in ROWS if n % 3 == 0}  # ten of thirty
    result = await pages(visible, limit, [])
    assert [n for page in result for n in page] == sorted(visible)
    assert all(len(page) == limit for page in result[:-1])
    assert 1 <= len(result[-1]) <= limit


async def test_nothing_visible_is_one_empty_last_page() -> None:
    assert await pages(set(), 5, []) == [[]]


async def test_a_page_asks_the_query_for_chunks_of_the_page_and_one_more() -> None:
    fetched: list[int] = []
    await pages(set(ROWS), 4, fetched)
    assert set(fetched) == {5}
    assert len(fetched) == 8  # 30 rows, 4 a page: 8 pages of one chunk each


async def test_a_cursor_of_another_list_is_refused_on_cursor() -> None:
    async def fetch(after: tuple[KeyValue, ...] | None, n: int) -> Sequence[int]:
        return ROWS[:n]

    with pytest.raises(InvalidFieldError) as refused:
        await filtered_page("numbers", encode_cursor("letters", [1]), 5, (int,), fetch=fetch,
                            keep=list, key_of=lambda r: (r,))
    assert refused.value.field == "cursor"
