"""A class on a real JupyterHub in a real browser (deploy/hub/, `make hub`).

The instructor releases 01 to nbgrader's exchange; two students log in at the same time, fetch it,
answer its first exercise (one right, one wrong), run the exercise's self-check, validate and submit
from JupyterLab; the instructor collects (identity from the exchange), grades and returns feedback
with the project's CLI; each student fetches and opens their own feedback. Student B cannot read
student A's work or submission; students see no instructor panel; nobody sees the news popup; stopping
the hub leaves no process behind.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import subprocess
import time

import hubkit
import pytest

pytestmark = [pytest.mark.xdist_group("hub"), pytest.mark.slow]

ASSIGNMENT = "01_scalar_rules"
NEWS = "official Jupyter news"
STUDENT_HIDDEN = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                  "@jupyter/nbgrader:create-assignment"]
NO_NEWS = "@jupyterlab/apputils-extension:announcements"


@pytest.fixture(scope="module")
def hub():
    reason = hubkit.cannot_run()
    if reason:
        pytest.skip(reason)
    h = hubkit.Hub.start(n_students=2)
    try:
        yield h
    finally:
        h.remove()


# ---------------------------------------------------------------------------------------------------
# browser steps

async def login(browser, hub, name):
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(120_000)
    page = await context.new_page()
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", name)
    await page.fill("#password_input", hub.passwords[name])
    await page.click("#login_submit")
    await page.wait_for_selector(".jp-LabShell", timeout=300_000)
    await page.wait_for_selector("#jp-MainMenu >> text=Nbgrader")
    return page


async def lab_view(page) -> dict:
    """What the page shows of nbgrader and JupyterLab's plugins: disabled plugins, Nbgrader menu items."""
    config = json.loads(await page.eval_on_selector("#jupyter-config-data", "e => e.textContent"))
    await page.click("#jp-MainMenu >> text=Nbgrader")
    menu = page.locator("#jp-mainmenu-nbgrader")
    await menu.wait_for()
    items = [x.strip() for x in (await menu.inner_text()).splitlines() if x.strip()]
    await page.keyboard.press("Escape")
    return {"disabled": set(config.get("disabledExtensions", [])), "menu": items}


async def open_assignment_list(page):
    await open_menu_item(page, "Nbgrader", "#jp-mainmenu-nbgrader >> text=Assignment List")
    await page.locator("#released_assignments_list").wait_for()


async def refresh_until(page, locator, attempts: int = 60):
    """Refresh the assignment list until `locator` shows (the exchange changes behind the page's back)."""
    for _ in range(attempts):
        await page.click("#refresh_assignments_list")
        try:
            await locator.wait_for(timeout=5_000)
            return locator
        except Exception:
            continue
    raise AssertionError(f"{locator} never showed in the assignment list")


async def fetch_assignment(page, released):
    await released.wait()
    button = await refresh_until(page, page.locator("#released_assignments_list .list_item button:text('Fetch')"))
    await button.click()
    await page.locator("#fetched_assignments_list .list_item").first.wait_for()


async def answer_and_self_check(page, answer_index: int, answer: str, on_disk) -> str:
    """Open the notebook, run the cells above the answer cell, type the answer, run it and its self-check,
    save (`on_disk` is the notebook's path). Returns the self-check's output text (after checking it ran)."""
    await page.locator("#fetched_assignments_list a.assignment-notebooks-link").click()
    await page.locator(f"#fetched_assignments_list .nested_list_item a:text('{ASSIGNMENT}')").click()
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    await notebook.locator(".jp-Cell").first.wait_for()
    await page.locator("#jp-main-statusbar >> text=/\\| Idle/").wait_for(timeout=180_000)   # kernel ready
    await notebook.locator(".jp-Cell").first.locator(".jp-InputPrompt").click()
    for _ in range(answer_index):                       # run every cell above the answer cell, in order
        await page.keyboard.press("Shift+Enter")
    await page.keyboard.press("Enter")                  # edit the answer cell
    await page.keyboard.press("Control+a")
    await page.keyboard.insert_text(answer)
    await page.keyboard.press("Shift+Enter")            # run the answer
    await page.keyboard.press("Shift+Enter")            # run its self-check
    check = notebook.locator(f".jp-Cell[data-windowed-list-index='{answer_index + 1}']")
    prompt = check.locator(".jp-InputPrompt")
    for _ in range(600):
        if re.fullmatch(r"\[\d+\]:", (await prompt.inner_text()).strip()):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the self-check did not run (prompt {await prompt.inner_text()!r})")
    await page.keyboard.press("Control+s")
    for _ in range(300):                                # saved: validate and submit read the file
        if answer in hubkit.cell_sources(on_disk):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the notebook was not saved")
    return (await check.locator(".jp-OutputArea").inner_text()).strip()


async def validate_and_submit(page) -> str:
    """Validate from the notebook's toolbar, then submit from the assignment list; the dialog's text."""
    await page.locator(".jp-NotebookPanel:visible .jp-Toolbar >> text=Validate").click()
    dialog = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    await dialog.wait_for(timeout=240_000)
    text = await dialog.inner_text()
    await dialog.locator("button.jp-Dialog-button").first.click()
    await page.locator(".lm-TabBar-tab >> text=Assignments").click()
    await page.locator("#fetched_assignments_list .item_status button:text('Submit')").click()
    await page.locator("#submitted_assignments_list .list_item").first.wait_for(timeout=120_000)
    return text


async def fetch_and_open_feedback(page, graded) -> str:
    await graded.wait()
    await page.locator(".lm-TabBar-tab >> text=Assignments").click()
    button = await refresh_until(page, page.locator("#submitted_assignments_list button:text('Fetch Feedback')"))
    await button.click()
    link = page.locator("#submitted_assignments_list a:text('(view feedback)')")
    await link.wait_for(timeout=120_000)
    await link.click()                                  # the file browser goes to the feedback folder
    item = page.locator(f".jp-DirListing-item:has-text('{ASSIGNMENT}.html')")
    await item.wait_for()
    await item.dblclick()
    frame = page.frame_locator(".jp-HTMLViewer:visible iframe")
    await frame.locator("h1").wait_for()
    return await frame.locator("body").inner_text()


async def save_screenshots(browser, folder):
    for i, context in enumerate(browser.contexts):
        for j, page in enumerate(context.pages):
            try:
                await page.screenshot(path=str(folder / f"page-{i}-{j}.png"), timeout=10_000)
            except Exception:
                pass


async def news_popup_shown(page) -> bool:
    return await page.locator(f"text={NEWS}").count() > 0


# ---------------------------------------------------------------------------------------------------

async def open_menu_item(page, menu: str, item: str, attempts: int = 6) -> None:
    """Click `item` in the main menu `menu`. A menu opened while JupyterLab is still starting can close
    again before its item is clicked (a widget taking focus closes it): open it again, a few times."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        await page.click(f"#jp-MainMenu >> text={menu}")
        try:
            target = page.locator(item).first      # "Formgrader" also matches "Formgrader (local)"
            await target.wait_for(state="visible", timeout=15_000)
            await target.click(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            await page.keyboard.press("Escape")


def test_a_class_on_the_hub(hub, tmp_path):
    from playwright.async_api import async_playwright

    a, b = hub.students
    source = hubkit.REPO / "course" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    exercise, solution, name = hubkit.first_value_exercise(source)
    answers = {a: solution, b: f"{solution}\n{name} = {name} + 1"}   # b's answer is off by one
    timings = {}
    started = time.monotonic()

    async def story():
        released, graded = asyncio.Event(), asyncio.Event()
        submitted = {who: asyncio.Event() for who in (a, b)}
        results: dict = {}

        async def release():
            proc = await asyncio.to_thread(hub.grade_cli, "release", ASSIGNMENT, "--exchange")
            assert proc.returncode == 0, f"release: {proc.stdout}{proc.stderr}"
            timings["release"] = time.monotonic() - started
            released.set()

        async def student(browser, who):
            page = await login(browser, hub, who)
            timings[f"login {who}"] = time.monotonic() - started
            results[f"view {who}"] = await lab_view(page)
            results[f"origin {who}"] = page.url.split("/")[2]
            await open_assignment_list(page)
            await fetch_assignment(page, released)
            outbound = hub.state / "exchange" / hub.settings["course_id"] / "outbound" / ASSIGNMENT
            index = hubkit.cell_index(outbound / f"{ASSIGNMENT}.ipynb", f"{exercise}_answer")
            work = hub.home(who) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            results[f"check {who}"] = await answer_and_self_check(page, index, answers[who], work)
            results[f"validate {who}"] = await validate_and_submit(page)
            timings[f"submitted {who}"] = time.monotonic() - started
            submitted[who].set()
            results[f"feedback {who}"] = await fetch_and_open_feedback(page, graded)
            results[f"news {who}"] = await news_popup_shown(page)
            timings[f"feedback {who}"] = time.monotonic() - started

        async def instructor(browser):
            page = await login(browser, hub, hub.instructor)
            results["view instructor"] = await lab_view(page)
            await open_menu_item(page, "Nbgrader", "#jp-mainmenu-nbgrader >> text=Formgrader")
            frame = page.frame_locator(".jp-MainAreaWidget:visible iframe")
            results["formgrader"] = await frame.locator("body").inner_text(timeout=120_000)
            results["news instructor"] = await news_popup_shown(page)
            await asyncio.gather(*(e.wait() for e in submitted.values()))
            for step in (("collect", "--exchange"), ("grade",), ("feedback", "--exchange")):
                results[step[0]] = await asyncio.to_thread(hub.grade_cli, *step)
                assert results[step[0]].returncode == 0, f"{step}: {results[step[0]].stdout}{results[step[0]].stderr}"
            timings["graded"] = time.monotonic() - started
            graded.set()

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=hubkit.CHROMIUM, args=hubkit.CHROMIUM_ARGS)
            try:
                await asyncio.gather(release(), student(browser, a), student(browser, b), instructor(browser))
            except BaseException:
                await save_screenshots(browser, tmp_path)
                raise
            finally:
                await browser.close()
        return results

    try:
        # in a thread of its own: a session's sync Playwright (the site tests) keeps a loop running here
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, story()).result()
    except Exception as exc:
        hub.keep_logs(tmp_path)
        raise AssertionError(f"{exc}\n\nscreenshots and logs in {tmp_path}; hub log:\n{hub.log_tail()}") from exc
    print("timings (s):", {k: round(v) for k, v in timings.items()})

    # roles: students see the assignment list only; the instructor sees formgrader; nobody the news popup
    for who in (a, b):
        assert results[f"origin {who}"] == f"{who}.localhost:{hub.port}"   # an origin of its own
        view = results[f"view {who}"]
        assert set(STUDENT_HIDDEN) | {NO_NEWS} <= view["disabled"], view
        assert view["menu"] == ["Assignment List"], view["menu"]
        assert not results[f"news {who}"]
    assert NO_NEWS in results["view instructor"]["disabled"]
    assert not set(STUDENT_HIDDEN) & results["view instructor"]["disabled"]
    assert {"Assignment List", "Formgrader"} <= set(results["view instructor"]["menu"])
    assert "Manage Assignments" in results["formgrader"]
    assert not results["news instructor"]

    # the self-check ran in each student's kernel and gave its verdict: a different one for the wrong answer
    assert results[f"check {a}"] and results[f"check {b}"]
    assert results[f"check {a}"] != results[f"check {b}"]
    assert "Traceback" not in results[f"check {a}"] and "Error" not in results[f"check {a}"].split("\n")[0]
    for who in (a, b):
        assert results[f"validate {who}"].strip()

    # collect: identity from the exchange (the folders' owners)
    collected = results["collect"].stdout
    for who in (a, b):
        assert re.search(rf"^collected\s+{re.escape(who)}/{ASSIGNMENT}\b", collected, re.M), collected
    course = hub.home(hub.instructor) / "chainrule"
    # each student's own feedback, with their own result on the exercise
    page_a, page_b = results[f"feedback {a}"], results[f"feedback {b}"]
    assert f"feedback for {a}" in page_a and b not in page_a
    assert f"feedback for {b}" in page_b and a not in page_b
    assert re.search(rf"\({'correct'}; {exercise}\)", page_a), page_a
    assert re.search(rf"\(lost points; {exercise}\)", page_b), page_b
    assert (course / "submitted" / a / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    # student B cannot read student A's files or submission (nor the instructor's course)
    inbound = hub.state / "exchange" / hub.settings["course_id"] / "inbound"
    sub_a = next(p for p in inbound.iterdir() if p.stat().st_uid == hubkit.pwd.getpwnam(a).pw_uid)
    sub_b = next(p for p in inbound.iterdir() if p.stat().st_uid == hubkit.pwd.getpwnam(b).pw_uid)
    work_a = hub.home(a) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert work_a.stat().st_uid == hubkit.pwd.getpwnam(a).pw_uid   # A's server ran as A
    denied = {
        "A's notebook": ["cat", str(work_a)],
        "A's home": ["ls", str(hub.home(a))],
        "the inbound list": ["ls", str(inbound)],
        "A's submission, by its exact path": ["cat", str(sub_a / f"{ASSIGNMENT}.ipynb")],
        "A's submission secret": ["cat", str(sub_a / "submission_secret.txt")],
        "the instructor's source notebooks": ["ls", str(course / "source")],
    }
    for what, cmd in denied.items():
        proc = hub.run_as(b, cmd)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, f"B could read {what}: {proc}"
    allowed = {"B's own submission": ["cat", str(sub_b / f"{ASSIGNMENT}.ipynb")],
               "the released assignment": ["ls", str(inbound.parent / "outbound" / ASSIGNMENT)]}
    for what, cmd in allowed.items():
        proc = hub.run_as(b, cmd)
        assert proc.returncode == 0, f"B could not read {what} (so the denials above prove nothing): {proc}"

    # stopping leaves nothing running
    hub.stop()
    assert not hub.api_up()
    left = hubkit.hubctl.processes_of(hub.uids())
    assert not left, subprocess.run(["ps", "-o", "pid,user,cmd", "-p", ",".join(map(str, left))],
                                    capture_output=True, text=True).stdout
    print(f"whole story {time.monotonic() - started:.0f} s")
