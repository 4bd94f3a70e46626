"""The command line of the contracts tool: ``python -m tools.contracts --write | --check [--against REF]``.

Usage (from the repository root; ``make contracts`` / ``make contracts-check``)::

    python -m tools.contracts --write                # regenerate contracts/
    python -m tools.contracts --check                # CI: stale files or breaking changes → exit 1
    python -m tools.contracts --check --against origin/main   # compare with the schemas published there"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.contracts.files import ContractCheckError, check, generate, write
from tools.contracts.schemas import DEFAULT_DIRECTORY

BREAKING_CHANGE_ADVICE = (
    "A breaking change needs a new schema version registered beside the old one: keep the published model "
    "as it is and add e.g. `@contract(\"<event_type>\", version=<n + 1>, producer=...)` on a new class "
    "(consumers and replays still read the old version)."
)
STALE_ADVICE = (
    "Run `make contracts` (python -m tools.contracts --write) and commit the regenerated files."
)



def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.contracts",
        description="Generate or check the JSON Schemas and AsyncAPI document of salesflow's public events.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the files from the models")
    action.add_argument(
        "--check", action="store_true",
        help="exit 1 if the files differ from the models or a published schema changed incompatibly",
    )
    parser.add_argument(
        "--against", metavar="GIT_REF",
        help="with --check: also compare the models with the schemas committed at this ref (e.g. origin/main), "
             "so a breaking change fails even when the files were regenerated",
    )
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIRECTORY,
        help="the contracts directory (default: contracts/ at the repository root)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.against is not None and not args.check:
        parser.error("--against only applies to --check")
    if args.write:
        for line in write(directory) or ["contracts are up to date"]:
            print(line)
        return 0
    try:
        stale, breaking = check(directory, against=args.against)
    except ContractCheckError as exc:
        print(f"contract check could not run: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"The contract files in {directory} do not match the models in shared/contracts:", file=sys.stderr)
        for line in stale:
            print(f"  - {line}", file=sys.stderr)
        print(STALE_ADVICE, file=sys.stderr)
    if breaking:
        if stale:
            print(file=sys.stderr)
        print("Breaking changes to published contracts:", file=sys.stderr)
        for line in breaking:
            print(f"  - {line}", file=sys.stderr)
        print(BREAKING_CHANGE_ADVICE, file=sys.stderr)
    if stale or breaking:
        return 1
    print(f"contracts are up to date and compatible ({len(generate())} files)")
    return 0

