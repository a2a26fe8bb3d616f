"""The report of a run: one self-contained HTML page, Markdown beside it, and figures.

``build_report(DIR)`` reads the run directory (docs/run_directory.md) and writes
``DIR/report.html``, ``DIR/report.md`` and ``DIR/figures/*.png``.
"""

from discover.report.build import build_report
from discover.report.rundir import RunDirectory, RunDirectoryError, load_run

__all__ = ["RunDirectory", "RunDirectoryError", "build_report", "load_run"]
