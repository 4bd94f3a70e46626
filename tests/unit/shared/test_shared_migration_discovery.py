"""Migration files are found, ordered by version, and malformed folders are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.migrations import KERNEL_MIGRATIONS, Migration, MigrationError, discover, discover_rules


def write(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text(f"-- {name}\nSELECT 1;\n")


def test_migrations_are_returned_in_version_order_with_their_sql(tmp_path: Path) -> None:
    write(tmp_path, "0010_add_index.sql", "0002_add_table.sql", "0001_init.sql")

    found = discover("leads", tmp_path)

    assert [(m.version, m.name) for m in found] == [(1, "0001_init"), (2, "0002_add_table"), (10, "0010_add_index")]
    assert {m.namespace for m in found} == {"leads"}
    assert found[0].sql == "-- 0001_init.sql\nSELECT 1;\n"


def test_files_that_are_not_sql_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "0001_init.sql", "README.md", "0002_notes.txt")

    assert [m.name for m in discover("leads", tmp_path)] == ["0001_init"]


def test_an_empty_folder_has_no_migrations(tmp_path: Path) -> None:
    assert discover("leads", tmp_path) == []


@pytest.mark.parametrize(
    "bad_name",
    ["1_init.sql", "00001_init.sql", "0001-init.sql", "0001_Init.sql", "init.sql", "0001_.sql", "0001_in it.sql"],
)
def test_a_badly_named_migration_file_is_rejected(tmp_path: Path, bad_name: str) -> None:
    write(tmp_path, "0001_ok.sql", bad_name)

    with pytest.raises(MigrationError, match=r"NNNN_lower_snake\.sql"):
        discover("leads", tmp_path)


def test_two_migrations_with_the_same_version_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "0001_init.sql", "0002_add_table.sql", "0002_add_other_table.sql")

    with pytest.raises(MigrationError, match="share a version"):
        discover("leads", tmp_path)


def test_the_checksum_changes_when_the_sql_changes() -> None:
    original = Migration("leads", 1, "0001_init", "SELECT 1;")

    assert original.checksum == Migration("other", 9, "x", "SELECT 1;").checksum
    assert original.checksum != Migration("leads", 1, "0001_init", "SELECT 2;").checksum
    assert len(original.checksum) == 64


def test_the_kernels_own_migrations_are_well_formed() -> None:
    found = discover("kernel", KERNEL_MIGRATIONS)

    assert found
    assert [m.version for m in found] == sorted({m.version for m in found})


def test_rule_files_are_found_by_name_beside_the_versioned_ones_and_are_not_migrations(tmp_path: Path) -> None:
    write(tmp_path, "0001_init.sql")
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules", "rotation.sql", "capture.sql")

    assert [m.name for m in discover("leads", tmp_path)] == ["0001_init"]
    assert [m.name for m in discover_rules("leads", tmp_path)] == ["capture", "rotation"]


def test_the_kernel_keeps_sf_appends_current_definition_as_a_rule() -> None:
    (rule,) = [r for r in discover_rules("kernel", KERNEL_MIGRATIONS) if r.name == "sf_append"]
    assert "CREATE OR REPLACE FUNCTION sf_append(p_requests jsonb)" in rule.sql
