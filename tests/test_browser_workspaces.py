"""Workspaces in a real browser: a bare address gets a personal code that the address bar
and a cookie keep (reopening the bare address comes back to it); a teacher's ``?ws=`` link
joins the class; ticking a history row and removing it takes it off the class's list only
(another workspace still lists it)."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import browser_page, shot, streamlit_server, wait_idle
from tests.engine_helpers import TINY
from tlcore.runs import Store

pytestmark = pytest.mark.slow


def _ws(page) -> str:
    page.wait_for_function("() => location.search.includes('ws=')", timeout=60_000)
    return parse_qs(urlsplit(page.url).query)["ws"][0]


def test_personal_code_cookie_class_link_and_removing_from_the_history(tmp_path):
    root = tmp_path / "data"
    store = Store(root)
    rid, _ = store.submit(TINY, ws="class-7b")
    store.submit(TINY, ws="elsewhere")
    store.claim(rid)
    store.finish(rid, "done", metrics={"test_accuracy": 0.75}, seconds=3.0)
    with streamlit_server(root) as url, browser_page() as page:
        page.goto(url)
        wait_idle(page)
        code = _ws(page)
        assert re.fullmatch(r"[2-9a-z]{8}", code), code
        page.get_by_text(f"Workspace {code}").first.click()
        page.get_by_text("Show all runs on this server").first.wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, "workspace_box")
        page.wait_for_function(f"() => document.cookie.includes('tlab_ws={code}')", timeout=30_000)
        page.goto(url)  # the bare address again, as `make app` opens it: the cookie brings it back
        wait_idle(page)
        assert _ws(page) == code

        page.goto(f"{url}/train?ws=class-7b")
        wait_idle(page)
        assert _ws(page) == "class-7b"
        grid = page.get_by_test_id("stDataFrame").last
        grid.wait_for(timeout=60_000)
        grid.scroll_into_view_if_needed()
        wait_idle(page)
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's tick box
        remove = page.get_by_role("button", name=re.compile(r"Remove from this workspace \(1\)"))
        remove.wait_for(timeout=30_000)
        shot(page, "workspace_history_selected")
        remove.click()
        page.get_by_text("No runs yet in workspace").first.wait_for(timeout=30_000)
        page.get_by_text("belongs to other workspaces").first.wait_for(timeout=30_000)
        shot(page, "workspace_history_removed")
        page.wait_for_function("() => document.cookie.includes('tlab_ws=class-7b')", timeout=30_000)
        page.goto(url)  # the cookie followed the class link
        wait_idle(page)
        assert _ws(page) == "class-7b"
    after = Store(root)
    assert after.workspaces_of(rid) == ["elsewhere"] and after.get(rid).status == "done"


def test_a_reload_is_the_same_person_with_the_same_name(tmp_path):
    """The owner id is a cookie: a reload keeps one's turn in the queue and one's name in
    the class view (it used to make a new "student")."""
    root = tmp_path / "data"
    with streamlit_server(root) as url, browser_page() as page:
        page.goto(url)
        wait_idle(page)
        code = _ws(page)
        page.get_by_text(f"Workspace {code}").first.click()
        name = page.get_by_role("textbox", name="Your name in the class view")
        name.fill("Ada")
        name.press("Enter")
        wait_idle(page)
        page.wait_for_function("() => /tlab_me=[0-9a-f]{16}/.test(document.cookie)", timeout=30_000)
        me = "browser-" + re.search(r"tlab_me=([0-9a-f]{16})", page.evaluate("document.cookie")).group(1)
        deadline = time.time() + 30
        while Store(root).names([me]) != {me: "Ada"} and time.time() < deadline:
            time.sleep(0.3)
        assert Store(root).names([me]) == {me: "Ada"}
        page.goto(url)
        wait_idle(page)
        page.get_by_text(f"Workspace {code}").first.click()
        name = page.get_by_role("textbox", name="Your name in the class view")
        name.wait_for(timeout=30_000)
        shot(page, "workspace_name_after_reload")
        assert name.input_value() == "Ada"
