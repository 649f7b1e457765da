"""`make lab` as a reader uses it: JupyterLab from .venv with the repository's settings, driven in Chromium.

A JupyterLab server starts headless on a free loopback port with the same configuration `make lab` gives it
(the repository's `.jupyter`, where jupytext is the default viewer of `.md` files). For two chapters (the cheapest
with a live explorer: the explorers appendix, and gradient descent, which trains with progress bars) the test
opens the chapter by double-clicking it in JupyterLab's file browser, runs all cells from the Run menu, waits
for an explorer's slider, moves it with the keyboard and checks that the picture changed, and that neither the
page, nor a cell's output, nor the kernel logged an error. Every chapter of `_toc.yml` is also opened as a
notebook through the server's REST API (what JupyterLab asks for when it opens one).

These tests need no built site; they run in `make browser` (and so in `make test`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "tools" / "sync_notebooks.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)

# Settings for the test only: every cell in the DOM (JupyterLab may otherwise virtualize long notebooks), no
# news pop-up, and no autosave (a saved notebook would rewrite the chapter's .md through jupytext, and the book's
# cache would then count the chapter as changed). The repository's own .jupyter (what `make lab` uses) comes after
# these on the config path.
TEST_OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
ERROR_IN_LOG = re.compile(r"Traceback \(most recent call last\)|\b\w*Error: |^\[E \d")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, url: str, token: str, log: Path):
        self.url, self.token, self.log = url, token, log

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"},
                                         method=method)
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_errors(self, since: int = 0) -> list[str]:
        text = self.log.read_text(encoding="utf-8", errors="replace")[since:]
        return [line for line in text.splitlines() if ERROR_IN_LOG.search(line)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "default_setting_overrides.json").write_text(json.dumps(TEST_OVERRIDES))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_CONFIG_PATH=str(ROOT / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("LIB_PROGRESS", None)  # progress bars on, as for a reader
    env.pop("LIB_BOOK_BUILD", None)  # live explorers, not the static ones
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
               "--ServerApp.port_retries=0", "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    result = Lab(url, token, log)
    deadline = time.monotonic() + 120
    while True:
        try:
            result.api("/api/status")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield result
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def test_every_chapter_opens_as_a_notebook_through_the_rest_api(lab):
    chapters = sync.chapters()
    assert chapters
    for chapter in chapters:
        path = chapter.relative_to(ROOT).as_posix()
        model = lab.api(f"/api/contents/{path}?type=notebook&content=1")
        assert model["type"] == "notebook", path
        notebook = model["content"]
        assert notebook["nbformat"] == 4
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path
        assert sum(cell["cell_type"] == "code" for cell in notebook["cells"]) > 0, path
    kernelspecs = lab.api("/api/kernelspecs")
    assert "python3" in kernelspecs["kernelspecs"]


def test_jupytext_is_the_default_viewer_of_md_files(lab):
    settings = lab.api("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("markdown") == "Jupytext Notebook", viewers


# The cells of a chapter that is still running show "[*]:"; a cell that ran shows "[<n>]:".
RAN = re.compile(r"^\[\d+\]:$")
ERROR_OUTPUT = (".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error'], "
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def _run_all_cells(page, panel, timeout_s: float) -> list[str]:
    """Open the Run menu, run all cells of `panel`, and wait until every code cell ran (or one failed); the prompts."""
    panel.locator(".jp-Cell").first.click()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]:not(.lm-mod-disabled)').click()
    deadline = time.monotonic() + timeout_s
    while True:
        prompts = panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        ran = [bool(RAN.match(p.strip())) for p in prompts]
        failed = panel.locator(ERROR_OUTPUT).all_inner_texts()
        if (prompts and all(ran)) or any("Error" in text for text in failed) or time.monotonic() > deadline:
            return prompts
        time.sleep(2)


def _session(lab: Lab, path: str) -> dict | None:
    return next((s for s in lab.api("/api/sessions") if s["path"] == path), None)


def _kernel_idle(lab: Lab, path: str, timeout_s: float) -> dict:
    """Wait until the notebook at `path` has its own kernel and that kernel is idle; its session.

    Another chapter's kernel may still be alive (the server serves the whole module), so the wait is for this
    notebook's session, not for any idle kernel: "Run all" before the notebook's kernel exists runs nothing.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        session = _session(lab, path)
        if session and session["kernel"] and session["kernel"]["execution_state"] == "idle":
            return session
        time.sleep(0.5)
    pytest.fail(f"no idle kernel for {path} after {timeout_s} s: {lab.api('/api/sessions')}")


@pytest.mark.parametrize(("chapter", "progress_bars"), [("explorers", False), ("gradient_descent", True)])
def test_a_reader_runs_the_chapter_and_moves_a_live_explorer(lab, browser, screenshot_dir, chapter, progress_bars):
    log_start = len(lab.log.read_text(encoding="utf-8", errors="replace"))
    path = f"chapters/{chapter}.md"
    source = ROOT / path
    source_before = (source.read_bytes(), source.stat().st_mtime_ns)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    session = None
    try:
        # the chapter's .md opens as a notebook: jupytext is the default viewer (the repository's .jupyter)
        # a workspace of its own: JupyterLab would otherwise restore the previous test's notebook beside this one
        page.goto(f"{lab.url}/lab/workspaces/test-{chapter}/tree/{path}?token={lab.token}")
        panel = page.locator(".jp-NotebookPanel:visible")
        panel.locator(".jp-CodeCell").first.wait_for(timeout=180_000)
        assert panel.count() == 1, f"{panel.count()} notebooks are open"
        session = _kernel_idle(lab, path, timeout_s=180)
        panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=60_000)  # the page, too, is connected to that kernel
        prompts = _run_all_cells(page, panel, timeout_s=600)
        page.screenshot(path=str(screenshot_dir / f"lab-{chapter}-ran.png"))
        assert not panel.locator(ERROR_OUTPUT).all_inner_texts(), panel.locator(ERROR_OUTPUT).all_inner_texts()
        assert prompts and all(RAN.match(p.strip()) for p in prompts), prompts
        if progress_bars:  # tqdm.auto in a kernel is an ipywidgets 8 progress bar (class widget-hprogress)
            assert panel.locator(".widget-hprogress").count() > 0, "no tqdm progress bar"

        image = panel.locator(".widget-image").first
        image.scroll_into_view_if_needed()
        before = image.get_attribute("src")
        slider = panel.locator(".widget-slider [role=slider]").first
        slider.scroll_into_view_if_needed()
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("([img, src]) => img.getAttribute('src') !== src", arg=[image.element_handle(), before],
                               timeout=60_000)
        page.screenshot(path=str(screenshot_dir / f"lab-{chapter}-moved.png"))
    finally:
        context.close()
        if session:
            lab.api(f"/api/sessions/{session['id']}", method="DELETE")
    assert (source.read_bytes(), source.stat().st_mtime_ns) == source_before, f"running {path} in JupyterLab wrote it"
    assert not page_errors, page_errors
    assert not lab.log_errors(log_start), lab.log_errors(log_start)
