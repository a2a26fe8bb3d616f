"""The report in a real browser: headless Chromium lays it out at 1,400 and 900 px and a
script in the page measures overflow, images and MathML (skipped where Chromium is not
installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from discover.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)

MEASURE = """<script>
window.addEventListener("load", () => {
  const body = document.body.getBoundingClientRect();
  const wide = (selector) => [...document.querySelectorAll(selector)]
    .filter((e) => e.getBoundingClientRect().right > body.right + 1)
    .map((e) => e.tagName + "." + e.className);
  const result = {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    tooWide: [...wide(".table-wrap"), ...wide("img"), ...wide("math"), ...wide("pre"),
              ...wide("p"), ...wide("ul")],
    images: document.images.length,
    broken: [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0)).length,
    math: document.getElementsByTagName("math").length,
    mathWidth: [...document.getElementsByTagName("math")]
      .filter((m) => m.getBoundingClientRect().width > 0).length,
  };
  const out = document.createElement("pre");
  out.id = "measurements";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def measure(html: Path, width: int, tmp_path: Path) -> dict:
    """Lay out ``html`` at ``width`` px in headless Chromium; the page's measurements."""
    page = tmp_path / f"measured_{width}.html"
    page.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},1200", "--virtual-time-budget=10000", "--dump-dom",
        page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'<pre id="measurements">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no measurements from chromium (exit {done.returncode}): {done.stderr[-500:]}"
    return json.loads(found[1].replace("&quot;", '"'))


@pytest.mark.parametrize("width", [1400, 900])
def test_report_fits_the_window_loads_its_images_and_typesets_math(
    full_run: Path, tmp_path: Path, width: int
) -> None:
    html = build_report(full_run)
    result = measure(html, width, tmp_path)
    assert result["scrollWidth"] <= result["innerWidth"], result
    assert result["tooWide"] == [], result
    assert result["images"] >= 8 and result["broken"] == 0, result
    assert result["math"] >= 10 and result["mathWidth"] == result["math"], result
