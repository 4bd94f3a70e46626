"""Report rows keep every field of the domain's records, with the same values as ``dataclasses.asdict`` gave."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from services.reporting.app.queries import report_dict
from services.reporting.app.records import record_dict
from services.reporting.domain.funnel import funnel_from_measures
from services.reporting.domain.targets import TargetLine, attainment, check_splits


def test_a_funnel_report_row_is_what_asdict_gave_with_its_stages_as_a_list() -> None:
    report = funnel_from_measures({
        "total": 10, "entered:contacted": 7, "reached:contacted": 7, "current:contacted": 3, "reached:visited": 4,
        "current:visited": 4, "stay:contacted:24": 5, "stay:contacted:72": 2, "won": 2, "lost": 1, "open": 7,
        "lost_reason:price": 1, "lost_stage:contacted": 1, "lost_competitor:Tesla Model 3": 1})
    expected = asdict(report)
    expected["stages"] = list(expected["stages"])

    row = report_dict(report)

    assert row == expected
    assert row["stages"][1]["median_hours_in_stage"] is not None  # the example has times in stage to compare
    assert row["lost_by_competitor"] == {"Tesla Model 3": 1}


def test_attainment_and_split_rows_have_every_field_of_their_records() -> None:
    lines = [TargetLine("team", "t1", "2026-03", "contracts", 10.0, stretch=12.0),
             TargetLine("consultant", "c1", "2026-03", "contracts", 6.0, parent_team="t1")]
    rows = [record_dict(attainment(line, 4.0, datetime(2026, 3, 16, tzinfo=UTC))) for line in lines]
    splits = [record_dict(s) for s in check_splits(lines)]

    assert rows == [asdict(attainment(line, 4.0, datetime(2026, 3, 16, tzinfo=UTC))) for line in lines]
    assert rows[0]["stretch_attainment"] is not None
    assert rows[1]["scope_id"] == "c1"
    assert splits == [asdict(s) for s in check_splits(lines)]
    assert splits[0]["adds_up"] is False
