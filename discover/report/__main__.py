"""``python -m discover.report DIR``: rebuild the report of a finished run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from discover.report.build import build_report
from discover.report.rundir import RunDirectoryError
from discover.run_directory import MARKER, RunDirectoryRefused, locked


def main(argv: Sequence[str] | None = None) -> int:
    """Build the report of the run directory given in ``argv`` while holding its lock (so
    no run writes there meanwhile); exit code 2 if it cannot, or if a run holds the lock."""
    parser = argparse.ArgumentParser(
        prog="discover report",
        description="Rebuild report.html, report.md and figures/ from a finished run directory.",
    )
    parser.add_argument("run_dir", help="the run directory (written by `discover run`)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        with locked(run_dir) if (run_dir / MARKER).exists() else nullcontext():
            path = build_report(run_dir)
    except (RunDirectoryError, RunDirectoryRefused) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
