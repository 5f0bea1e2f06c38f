"""Screenshots of the study pages for the README, from real stored studies.

The browser tests keep screenshots of every page (tests/artifacts/), but with tiny test
budgets. This script fills one store with the README's studies through the CLI (stored
runs are reused, so a second call only takes the pictures), serves the app on it, and
saves the Domain adaptation and Experiments pages at their real settings into
docs/screenshots/.

    python scripts/docs_screenshots.py --store /tmp/tlab-docs   # ~8 min the first time on 2 cores
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import browser_page, shot, streamlit_server, wait_idle  # noqa: E402
from tlcore import experiments as ex  # noqa: E402
from tlcore.transfer import adapt_study as da  # noqa: E402
from tlcore.urlstate import config_to_params  # noqa: E402

STUDIES = (["adapt", "--seeds", "0,1,2"], ["budget"], ["yosinski"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, help="a folder for the run store (kept between calls)")
    store = Path(p.parse_args().store).resolve()
    store.mkdir(parents=True, exist_ok=True)
    for args in STUDIES:
        subprocess.run([sys.executable, "-m", "tlcore", *args, "--store", str(store), "--quiet"], check=True, cwd=ROOT)
    out = ROOT / "docs" / "screenshots"
    with streamlit_server(store) as url, browser_page() as page:
        page.goto(f"{url}/adapt?{urlencode(config_to_params(da.DEFAULT))}")
        page.get_by_text("Embeddings over epochs").wait_for(timeout=120_000)
        page.get_by_text(re.compile(r"Source only · epoch \d")).first.wait_for(timeout=240_000)
        wait_idle(page, timeout=240_000)
        shutil.copy(shot(page, "docs_adapt"), out / "adapt.png")

        page.goto(f"{url}/experiments?{urlencode(config_to_params(ex.BUDGET_BASE))}")
        page.get_by_text(re.compile(r"Crossover:|No crossover here")).wait_for(timeout=120_000)
        wait_idle(page)
        shutil.copy(shot(page, "docs_budget"), out / "experiments_budget.png")
        page.get_by_role("tab", name="Yosinski lab").click()
        page.get_by_text(re.compile(r"points below base|stays at or above base")).first.wait_for(timeout=120_000)
        wait_idle(page)
        shutil.copy(shot(page, "docs_yosinski"), out / "experiments_yosinski.png")
    print(f"saved to {out}")


if __name__ == "__main__":
    main()
