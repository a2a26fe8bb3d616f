"""``python -m discover.report DIR``: rebuild the report of a finished run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from discover.report.build import build_report
from discover.report.rundir import RunDirectoryError


def main(argv: Sequence[str] | None = None) -> int:
    """Build the report of the run directory given in ``argv``; exit code 2 if it cannot."""
    parser = argparse.ArgumentParser(
        prog="discover report",
        description="Rebuild report.html, report.md and figures/ from a finished run directory.",
    )
    parser.add_argument("run_dir", help="the run directory (written by `discover run`)")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.run_dir)
    except RunDirectoryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
