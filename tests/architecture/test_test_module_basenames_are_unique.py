"""pytest imports test modules outside packages by their basename (rootdir-relative "rootdir/conftest" mode), so two
``test_x.py`` files in different folders make a full run refuse to collect ("import file mismatch") while each folder
still passes on its own — a CI failure nobody sees locally. This keeps every basename unique."""

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_basename() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if ".venv" in path.parts or "__pycache__" in path.parts:
            continue
        by_name[path.name].append(str(path.relative_to(TESTS)))
    shared = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, f"test modules sharing a basename (rename one): {shared}"
