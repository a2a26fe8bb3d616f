"""The ``discover`` command."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from discover import __version__
from discover.errors import UserError
from discover.run_directory import MARKER

if TYPE_CHECKING:
    from discover.fit.launch import Launch
    from discover.study import Study

log = logging.getLogger("discover")

LOG_FILE = "discover.log"
"""File in the run directory that the traceback of an internal error is appended to."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``discover`` command and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="discover",
        description=(
            "Symbolic knowledge discovery with differentiable process-based models: train a "
            "hybrid model with neural process slots, distill them into equations, test them."
        ),
    )
    parser.add_argument("--version", action="version", version=f"discover {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="run every stage of a study configured in a YAML file",
        description=(
            "Validate CONFIG, train the model, distill every neural slot into equations, "
            "reinsert and refit them, score every variant on every split and write the run "
            "directory (docs/run_directory.md): config.yaml, checkpoints/, history.csv, "
            "equations.json, metrics.json, simulations.nc, report.html, report.md, figures/."
        ),
    )
    run.add_argument("config", type=Path, help="the study's YAML configuration")
    run.add_argument("--out", type=Path, default=None, help="run directory (default runs/NAME)")
    run.add_argument(
        "--resume", action="store_true", help="continue from the run directory's last checkpoint"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    report = commands.add_parser(
        "report",
        help="rebuild report.html and report.md of a finished run",
        description="Rebuild report.html, report.md and figures/ from a run directory alone.",
    )
    report.add_argument("run_dir", type=Path, help="the run directory (written by `discover run`)")
    demo = commands.add_parser(
        "demo",
        help="run the flagship study: discover a planted evapotranspiration law in HBV",
        description=(
            "Run the flagship study (case_studies/hbv_et_twin): a synthetic HBV twin whose "
            "evapotranspiration follows a planted non-textbook law. A neural slot learns it "
            "from streamflow, distillation turns it into an equation, and the reinserted "
            "equation is tested against the textbook model on held-out data. The last line "
            "printed is `report: <path to report.html> (<seconds> s)`."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path("runs/hbv_et_twin"), help="run directory")
    demo.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    check = commands.add_parser(
        "check",
        help="validate a configuration and its data without training",
        description=(
            "Validate CONFIG and load its data; print the model, sites, time span and the "
            "range and size of each split (warm-up, train, validation, test)."
        ),
    )
    check.add_argument("config", type=Path, help="the study's YAML configuration")
    return parser


@dataclass
class Invocation:
    """What a command is working on, for the messages of the error boundary: the config
    and run directory once known (a traceback log goes into the run directory).

    Of the processes ``torchrun`` starts, rank 0 alone is the ``lead`` (progress bars,
    INFO logging, warnings, the resume hint; the run directory). An error met before the
    processes meet is printed by the first process of each machine (every process meets
    it alike), one met after by the process it happened in (``reports``)."""

    config: Path | None = None
    out: Path | None = None
    lead: bool = field(default_factory=lambda: os.environ.get("RANK", "0") == "0")
    reports: bool = field(default_factory=lambda: os.environ.get("LOCAL_RANK", "0") == "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code: 0 done, 2 a problem the user can fix
    (printed as ``error: ...``), 1 an internal error (one line; the traceback goes to a log
    file), 130 interrupted (Ctrl-C; the command that resumes is printed)."""
    args = build_parser().parse_args(argv)
    invocation = Invocation(config=getattr(args, "config", None))
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(
        level=logging.ERROR if not invocation.lead else logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(message)s",
    )
    try:
        with one_line_warnings(show=invocation.lead):
            return dispatch(args, invocation)
    except KeyboardInterrupt:
        if invocation.lead:
            print(interrupted(invocation), file=sys.stderr)
        return 130
    except UserError as err:
        if args.debug:
            raise
        if invocation.reports and not stopped_by_peer(err):  # else another process says why
            print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if args.debug:
            raise
        if lost_peer(err):  # another of torchrun's processes failed and says why
            return 1
        log_path = write_traceback(err, invocation.out)
        first_line = next(iter(str(err).strip().splitlines()), "")
        where = f"full traceback in {log_path}"
        if invocation.reports:
            print(f"internal error: {type(err).__name__}: {first_line} ({where})", file=sys.stderr)
        return 1


def stopped_by_peer(err: UserError) -> bool:
    """Whether ``err`` only says that another of torchrun's processes failed."""
    from discover.fit.distributed import PeerFailed  # imports torch: not before it is needed

    return isinstance(err, PeerFailed)


def lost_peer(err: Exception) -> bool:
    """Whether ``err`` is a collective's failure because another of torchrun's processes
    stopped (:func:`discover.fit.distributed.lost_peer`)."""
    if "RANK" not in os.environ:  # not started by torchrun: no peers
        return False
    from discover.fit.distributed import lost_peer as peer_stopped

    return peer_stopped(err)


def dispatch(args: argparse.Namespace, invocation: Invocation) -> int:
    """Run the sub-command of ``args``, recording its config and run directory in
    ``invocation`` as soon as they are known."""
    if args.command == "report":
        from discover.report.__main__ import main as report_main

        invocation.out = args.run_dir
        return report_main([str(args.run_dir)])
    if args.command == "demo":
        return run_demo(args.out, progress=not args.quiet, invocation=invocation)
    if args.command == "check":
        from discover.study import Study
        from discover.summary import study_summary

        study = Study.from_config(args.config)
        print(f"{args.config}: configuration and data are valid")
        print("\n".join(study_summary(study)))
        return 0
    out = run_study(args.config, args.out, args.resume, not args.quiet, invocation)
    if out is not None:
        print("\n".join(headline(out)))
        print(f"results: {out}")
        print(f"report: {out / 'report.html'}")
    return 0


def run_study(
    config: Path, out: Path | None, resume: bool, progress: bool, invocation: Invocation
) -> Path | None:
    """Run the study configured in the file ``config`` into ``out`` (default
    ``runs/<name>``), alone or as one of the processes ``torchrun`` started
    (:mod:`discover.fit.launch`); record the run directory in ``invocation``. Returns the
    run directory on the process that wrote it (rank 0), ``None`` on the others.

    The processes meet first; then each reads the config and data and (rank 0) takes the
    run directory before any shared work, and an error on any of them stops them all,
    reported once (:func:`~discover.fit.distributed.together`)."""
    from discover.fit.distributed import together
    from discover.fit.launch import process_group, torchrun_launch

    launch = torchrun_launch()
    with process_group(launch) as world:
        invocation.reports = True  # from here on, errors are reported once
        study = together(lambda: open_study(config, out, launch))
        invocation.out = study.out if world.writes else None  # the others never write there
        study.run(resume=resume, progress=progress and world.writes)
    return study.out if world.writes else None


def open_study(config: Path, out: Path | None, launch: Launch | None) -> Study:
    """The study configured in ``config`` (its data loaded) with run directory ``out``
    (default ``runs/<name>``), on this process's device and with its ``threads``.

    Raises:
        UserError: an HBV study with fewer sites than processes."""
    import torch

    from discover.config import load_config
    from discover.fit.launch import use_device
    from discover.study import Study

    settings, base = load_config(config)
    use_device(launch, settings.device)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    study = Study(settings, base, out or Path("runs") / settings.name)
    processes = launch.size if launch else 1
    # whole-period HBV losses share out their sites (a drawn batch is each process's own)
    if settings.model.type == "hbv" and processes > 1:
        sites = len(study.workflow.sites)
        if sites < processes:
            raise UserError(
                f"{sites} sites cannot be shared among {processes} processes (the data's "
                "sites): start at most as many processes as sites"
            )
    return study


def one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A warning as one line, ``warning: <message> (<category>)``, without the source line
    that Python's default format shows."""
    text = " ".join(str(message).split())
    return f"warning: {text} ({category.__name__})\n"


@contextmanager
def one_line_warnings(show: bool = True) -> Iterator[None]:
    """Show warnings as one line each (:func:`one_line_warning`) while the command runs,
    or none unless ``show``; Python's format and filters are put back afterwards (library
    users keep them)."""
    default = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        with warnings.catch_warnings():
            if not show:
                warnings.simplefilter("ignore")
            yield
    finally:
        warnings.formatwarning = default


def interrupted(invocation: Invocation) -> str:
    """The message after Ctrl-C: that the run stopped and the command that continues it."""
    if invocation.config is None:
        return "interrupted"
    command = ["discover", "run", str(invocation.config)]
    if invocation.out is not None:
        command += ["--out", str(invocation.out)]
    resume = shlex.join([*command, "--resume"])
    if "RANK" in os.environ:  # started by torchrun
        resume = f"torchrun <the same options> -m {resume}"
    return f"interrupted; continue with: {resume}"


def write_traceback(err: BaseException, run_dir: Path | None) -> Path:
    """Append the traceback of ``err`` to ``run_dir/discover.log`` when that folder is a
    run directory of discover's own (never into a folder of the user's), else to a new
    temporary file; returns the log's path."""
    if run_dir is not None and (run_dir / MARKER).is_file():
        path = run_dir / LOG_FILE
    else:
        handle, name = tempfile.mkstemp(prefix="discover-", suffix=".log")
        os.close(handle)
        path = Path(name)
    with path.open("a") as stream:
        stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} discover {__version__}\n")
        stream.write("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    return path


def run_demo(
    out: Path,
    progress: bool = True,
    config: Path | None = None,
    invocation: Invocation | None = None,
) -> int:
    """Run the packaged flagship config (or ``config``) into ``out``; print its headline
    results and, last, ``report: <path> (<seconds> s)``. ``invocation`` records the
    config file and ``out`` (for the error boundary of :func:`main`)."""
    from importlib.resources import as_file, files

    started = time.perf_counter()
    invocation = invocation or Invocation()
    with as_file(files("discover.demos") / "hbv_et_twin.yaml") as packaged:
        invocation.config = Path(config or packaged)
        if run_study(invocation.config, out, False, progress, invocation) is None:
            return 0  # one of torchrun's processes other than rank 0
    print("\n".join(headline(out)))
    print(f"report: {out / 'report.html'} ({time.perf_counter() - started:.0f} s)")
    return 0


def equation_line(slot: str, entry: dict) -> str:
    """One slot of ``equations.json`` as a labelled line: the selected equation with the
    constants it was trained to in the model (``refitted``) when the run has them, else as
    distillation found it, or why the slot was not distilled."""
    if entry.get("refitted"):
        return f"{slot} (selected, trained): {rounded(entry['refitted'], entry['inputs'])}"
    if entry.get("selected"):
        expression = rounded(entry["selected"]["expression"], entry["inputs"])
        return f"{slot} (selected, as distilled): {expression}"
    return f"{slot} (not distilled): {entry.get('error')}"


def rounded(expression: str, inputs: Sequence[str], digits: int = 4) -> str:
    """``expression`` (over ``inputs``) with its numbers to ``digits`` significant digits."""
    import sympy

    from discover.expressions import parse_expression

    parsed = parse_expression(expression, inputs)
    return str(parsed.xreplace({n: sympy.Float(n, digits) for n in parsed.atoms(sympy.Float)}))


def headline(run_dir: Path) -> list[str]:
    """What a person reads first in a finished run directory: the selected equations
    (:func:`equation_line`), held-out median NSE per variant, and the paired tests of NSE
    on held-out data."""
    import json

    import pandas as pd

    lines = []
    equations = run_dir / "equations.json"
    if equations.exists():
        for slot, entry in json.loads(equations.read_text()).items():
            lines.append(equation_line(slot, entry))
    for variant, splits in json.loads((run_dir / "metrics.json").read_text()).items():
        for variable, values in splits.get("test", {}).items():
            lines.append(f"{variant}: held-out median NSE of {variable} {values['nse']:.3f}")
    comparisons = run_dir / "comparisons.csv"
    if comparisons.exists():
        table = pd.read_csv(comparisons)
        held_out = table["split"] == "test" if "split" in table else True
        lines += list(table.loc[(table["metric"] == "nse") & held_out, "sentence"].astype(str))
    return lines


if __name__ == "__main__":
    sys.exit(main())
