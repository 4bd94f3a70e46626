"""The domain reads no clock and makes no ids: time and ids are passed in (DESIGN §7). Imports of I/O and
frameworks are checked by import-linter (`make imports`); calls like ``datetime.now()`` are not imports, so
they are checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOMAIN_FILES = sorted([*REPO.glob("services/*/domain/**/*.py"), *REPO.glob("shared/domain/**/*.py")])
IMPURE_CALLS = re.compile(
    r"\b(datetime\.(now|utcnow|today)|date\.today|time\.(time|monotonic|perf_counter)|uuid\.uuid[1-5]|uuid[1-5]\(|"
    r"random\.|secrets\.|os\.environ|open\()"
)


def test_there_are_domain_modules_to_check() -> None:
    assert len(DOMAIN_FILES) >= 4


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_domain_module_reads_no_clock_randomness_or_environment(path: Path) -> None:
    offending = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if IMPURE_CALLS.search(line) and not line.lstrip().startswith("#")
    ]
    assert offending == []
