"""A group's stored contributions (report_group_contributions) are the same bytes however the fold reached them:
`salesflow verify` compares that table byte for byte with a recomputation, and the live fold and the rebuild add
the same sums in different orders, some as ints and some as floats."""
from services.reporting.adapters.summaries import _decode_contributions, _encode_contributions

KEYS = [("stock", "", "grade:N", "2026-12-04T19"),
        ("funnel", "2026-12-04", "total", "", "", "website", "", "2026-12-04T19"),
        ("activity", "2026-12-04", "new_leads", "", "", "website", "", "2026-12-04T19"),
        ("stock", "", "overdue", "2026-12-05T19")]


def test_the_same_sums_in_another_order_and_number_type_encode_to_the_same_bytes() -> None:
    live = {KEYS[0]: 1.0, KEYS[1]: 1, KEYS[2]: 1.0, KEYS[3]: -1}
    recomputed = {KEYS[3]: -1.0, KEYS[2]: 1, KEYS[1]: 1.0, KEYS[0]: 1}

    assert _encode_contributions(live) == _encode_contributions(recomputed)


def test_different_sums_encode_differently_and_decode_back() -> None:
    sums = {KEYS[0]: 1.0, KEYS[1]: 2.5}

    assert _encode_contributions(sums) != _encode_contributions({KEYS[0]: 1.0, KEYS[1]: 2.0})
    assert _decode_contributions(_encode_contributions(sums)) == sums
