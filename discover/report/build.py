"""``build_report``: the report of a finished run directory, from its files alone."""

from __future__ import annotations

import logging
from pathlib import Path

from discover.report import findings, parameter_section, sections, slot_sections
from discover.report.context import Context
from discover.report.document import Document
from discover.report.html import render_html
from discover.report.markdown import render_markdown
from discover.report.rundir import load_run
from discover.run_directory import owned_files, record_files

log = logging.getLogger(__name__)

SECTIONS = (
    findings.findings,
    sections.summary,
    sections.question,
    sections.data,
    sections.training,
    parameter_section.parameters,
    sections.series,
    slot_sections.slots,
    sections.metrics,
    sections.hypothesis_tests,
    slot_sections.equations,
    sections.provenance,
)
"""The report's sections, in order; each takes the :class:`Context` and returns a Section
(or ``None`` when it does not apply to the run)."""


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``run_dir``.

    Every section is optional: what the run lacks is said in the report. Figures of an
    earlier report in ``figures/`` are replaced; files the run directory's marker does not
    record as written by ``discover`` are left alone, and the new files are recorded.

    Returns:
        The path of ``report.html``.

    Raises:
        RunDirectoryError: ``run_dir`` lacks a readable ``config.yaml`` or ``metrics.json``.
    """
    run = load_run(run_dir)
    figures = run.path / "figures"
    owned = owned_files(run.path)
    others = set()
    for old in figures.glob("*.png"):
        if old.relative_to(run.path).as_posix() in owned:
            old.unlink()
        else:
            others.add(old)
    context = Context(run, figures)
    name = run.config.get("name", run.path.name)
    built = [build(context) for build in SECTIONS]
    document = Document(f"discover report: {name}", [s for s in built if s is not None])
    html_path = _write(run.path / "report.html", render_html(document))
    _write(run.path / "report.md", render_markdown(document, run.path))
    drawn = [p for p in figures.glob("*.png") if p not in others]
    record_files(run.path, [p.relative_to(run.path) for p in [html_path, *drawn]] + ["report.md"])
    log.info("report written to %s", html_path)
    return html_path


def _write(path: Path, text: str) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
