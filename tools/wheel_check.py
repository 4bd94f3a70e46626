"""Is every data file the services read at run time inside the installed (non-editable) package?

Migrations, the SQL rule files (``migrations/rules/``, ``sql/rules/``), configuration and pages are read from the
package's own folder (``Path(__file__).parent / ...``): a file the wheel leaves out works in the editable dev
install and fails in the image. Run with the Python of a venv the wheel was installed into (``make wheel-check``):
it reads the installed distribution's file list, imports nothing of it, and compares with the source tree.
"""

from __future__ import annotations

import sys
from importlib.metadata import distribution
from pathlib import Path

DATA_SUFFIXES = (".sql", ".json", ".html")
PACKAGES = ("shared", "services")


def expected_files(source: Path) -> set[str]:
    return {str(p.relative_to(source)) for top in PACKAGES for p in (source / top).rglob("*")
            if p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts}


def installed_files(name: str = "salesflow") -> set[str]:
    return {str(f) for f in distribution(name).files or ()}


def main(argv: list[str]) -> int:
    source = Path(argv[1]).resolve()
    expected = expected_files(source)
    missing = sorted(expected - installed_files())
    rules = sorted(f for f in expected if "/rules/" in f)
    if missing:
        print(f"wheel-check: {len(missing)} of {len(expected)} data files are not in the wheel:", *missing, sep="\n  ")
        return 1
    print(f"wheel-check: all {len(expected)} data files are in the wheel, {len(rules)} rule files among them: "
          + ", ".join(rules))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
