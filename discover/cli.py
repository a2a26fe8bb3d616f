"""The ``discover`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from discover.config import ConfigError

log = logging.getLogger("discover")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``discover`` command and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="discover",
        description=(
            "Symbolic knowledge discovery with differentiable process-based models: train a "
            "hybrid model with neural process slots, distill them into equations, test them."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="run every stage of a study configured in a YAML file",
        description=(
            "Validate CONFIG, train the model, score it on every split and write the run "
            "directory: config.yaml (resolved), checkpoints/, history.csv, metrics.json, "
            "provenance.json."
        ),
    )
    run.add_argument("config", type=Path, help="the study's YAML configuration")
    run.add_argument("--out", type=Path, default=None, help="run directory (default runs/NAME)")
    run.add_argument(
        "--resume", action="store_true", help="continue from the run directory's last checkpoint"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    check = commands.add_parser(
        "check", help="validate a configuration and its data without training"
    )
    check.add_argument("config", type=Path, help="the study's YAML configuration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad config or data)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(levelname)s %(message)s",
    )
    from discover.study import Study
    from discover.workflows.ode_data import DataError

    try:
        if args.command == "check":
            Study.from_config(args.config)
            print(f"{args.config}: configuration and data are valid")
            return 0
        study = Study.from_config(args.config)
        out = args.out or Path("runs") / study.config.name
        study.out = out
        study.run(resume=args.resume, progress=not args.quiet)
        print(f"results: {out}")
        return 0
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
