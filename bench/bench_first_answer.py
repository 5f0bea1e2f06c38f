"""How long a first-time user waits: from a cold install to the classic comparison's answer
(target: the answer within 15 s of the click on 2 cores; Home's first paint under 3 s).

Everything starts cold: a fresh data folder, dataset cache and numba cache (so UMAP's
kernels are not compiled yet). Then, as ``make app`` does, ``tlcore setup`` runs (timed;
``--no-setup`` skips it, as the app was before set-up did this work), the Streamlit server
starts, a headless Chromium opens Home and clicks *Run the classic comparison*, and the
clock stops when the answer (the winner sentence) is on screen. The breakdown comes from
the store: each run's wait in the queue and its own training time.

``--paint-only`` stops before the click: it times the server's start, Home's first paint
(the Run button shows) and the workflow diagram (drawn last: it needs torch), all from
opening the page on a fresh server, whose first script run pays for its imports.

    python bench/bench_first_answer.py
    python bench/bench_first_answer.py --no-setup     # the app's cold start without set-up
    python bench/bench_first_answer.py --paint-only   # Home's first paint, no click
    python bench/bench_first_answer.py --busy 1       # one busy process beside it, as on a laptop in use

``--busy N`` keeps N pure-Python busy loops running from the server's start to the answer:
another program that wants a core. It is what showed that a worker whose torch threads
cover every core collapses beside any other work (``tlcore.workers``); compare
``TLAB_WORKER_THREADS=2 python bench/bench_first_answer.py --busy 1``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_ANSWER_S = 15.0
TARGET_PAINT_S = 3.0


def cpu_seconds(needle: str) -> float:
    """CPU seconds (user + system) so far of every process whose command line holds ``needle``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if needle not in f.read().decode(errors="replace"):
                    continue
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


WHO = {"the Streamlit server": "streamlit\x00run\x00app.py", "the worker": "tlcore\x00worker",
       "the browser (Chromium)": "chromium"}


def click_and_wait(page, url: str, root: Path, leave: bool) -> tuple[float, float, dict[str, float]]:
    """Click Run on Home; (seconds to the answer on screen, the click's wall time, CPU
    seconds each party used meanwhile). ``leave``: watch nothing until the store is done."""
    from tlcore.runs import FINAL, Store

    button = page.get_by_role("button", name="Run the classic comparison")
    click, wall_click = time.perf_counter(), time.time()
    cpu0 = {who: cpu_seconds(needle) for who, needle in WHO.items()}
    button.click()
    if leave:
        page.get_by_text("Run the classic comparison").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # the click has queued the runs
        page.goto("about:blank")
        store = Store(root)
        while len(store.list()) < 3 or any(r.status not in FINAL for r in store.list()):
            time.sleep(0.5)
        page.goto(url)
    page.get_by_test_id("stAlertContentSuccess").first.wait_for(timeout=600_000)  # the winner sentence
    answer = time.perf_counter() - click
    return answer, wall_click, {who: cpu_seconds(needle) - cpu0[who] for who, needle in WHO.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-setup", action="store_true", help="skip `tlcore setup --warm` (cold caches at the click)")
    p.add_argument("--no-watch", action="store_true",
                   help="leave the page after the click and come back when the store has the answer "
                        "(what watching the live view costs the runs)")
    p.add_argument("--no-warmup", action="store_true", help="the server does not warm UMAP up (TLAB_WARMUP=0)")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="N busy processes beside the app from the server's start to the answer")
    p.add_argument("--paint-only", action="store_true",
                   help="time Home's first paint and its workflow diagram on the fresh server; no click")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlab-first-"))
    os.environ.update({"TLAB_DATA_DIR": str(tmp / "data"), "TLAB_CACHE_DIR": str(tmp / "cache"),
                       "NUMBA_CACHE_DIR": str(tmp / "numba")})
    (tmp / "data").mkdir()
    rows: list[tuple[str, float]] = []
    if not args.no_setup:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tlcore", "setup", "--warm"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        rows.append(("tlcore setup --warm (once, at install: `make app` runs it)", time.perf_counter() - t))

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        cold_start(args, tmp, rows)
    finally:
        for b in busy:
            b.kill()
            b.wait()


def cold_start(args: argparse.Namespace, tmp: Path, rows: list[tuple[str, float]]) -> None:
    """The server's start, Home's first paint and (unless ``--paint-only``) the click's
    answer with its breakdown, after ``rows``; prints the table and the verdict."""
    from tests.browser import browser_page, streamlit_server
    from tlcore.runs import Store
    from tlcore.workers import log_path

    t0 = time.perf_counter()
    with streamlit_server(tmp / "data", env={"TLAB_WARMUP": "0"} if args.no_warmup else None) as url:
        rows.append(("server start (health check answers)", time.perf_counter() - t0))
        with browser_page() as page:
            t = time.perf_counter()
            page.goto(url)
            page.get_by_role("button", name="Run the classic comparison").wait_for(timeout=120_000)
            paint = time.perf_counter() - t
            rows.append(("Home's first paint (the Run button shows)", paint))
            if args.paint_only:
                page.locator(".tl-workflow svg").wait_for(timeout=120_000)
                rows.append(("Home's workflow diagram on screen (from opening the page)", time.perf_counter() - t))
                print_rows(rows)
                print(paint_verdict(paint))
                return
            page.wait_for_timeout(2000)  # a person reads the page before clicking
            answer, wall_click, cpu = click_and_wait(page, url, tmp / "data", args.no_watch)
    store = Store(tmp / "data")
    with store._conn() as c:  # when each run was taken off the queue (not on RunRecord)
        claimed = dict(c.execute("SELECT id, claimed FROM runs").fetchall())
    for r in sorted(store.list(), key=lambda r: claimed[r.id] or 0):
        rows.append((f"  {r.config.strategy}: taken from the queue, after the click", claimed[r.id] - wall_click))
        rows.append((f"  {r.config.strategy}: trained", r.seconds or float("nan")))
    rows.append(("click -> answer on screen", answer))
    rows += [(f"  CPU seconds of {who} meanwhile", secs) for who, secs in cpu.items()]
    print_rows(rows)
    said = [ln for ln in log_path(tmp / "data", 0).read_text().splitlines() if "torch threads" in ln]
    print(f"\n{said[0] if said else 'worker: its thread count is not in its log'}; {args.busy} busy process(es) beside")
    print(f"answer {answer:.1f} s (target < {TARGET_ANSWER_S:.0f} s: "
          f"{'met' if answer < TARGET_ANSWER_S else 'NOT met'}); {paint_verdict(paint)}")


def print_rows(rows: list[tuple[str, float]]) -> None:
    print("| step | seconds |")
    print("|---|---|")
    for name, secs in rows:
        print(f"| {name} | {secs:.1f} |")


def paint_verdict(paint: float) -> str:
    return (f"first paint {paint:.1f} s (target < {TARGET_PAINT_S:.0f} s: "
            f"{'met' if paint < TARGET_PAINT_S else 'NOT met'}; a fresh server's first paint includes its imports)")


if __name__ == "__main__":
    main()
