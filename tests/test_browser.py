"""The notebooks as a learner meets them: JupyterLab in headless Chromium, Run > Run All Cells.

Opt-in: skipped unless Chromium and its driver are installed (Debian: `apt-get install
chromium chromium-driver`; .ci/run does, and sets COURSE_REQUIRE_BROWSER=1 so that CI fails
instead of skipping). A JupyterLab server runs on a free local port over
a temporary copy of notebooks/ (its autosave never touches the repository), with the smoke
profile and a phantom data folder. Notebook 01 and notebook 06 run through the menu; no cell
may show an error, and the forward-process slider of notebook 06 must redraw when moved.
Screenshots go to runs/browser/ (or COURSE_BROWSER_SHOTS) to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("COURSE_BROWSER_SHOTS", ROOT / "runs" / "browser"))
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")
# --disable-dev-shm-usage: shared memory in containers can be small or taken by other tests' processes.
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")
# JupyterLab settings for a quiet, deterministic page: no news prompt, every cell in the DOM.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
                "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def chromium_present():
    """Skipped without Chromium, unless COURSE_REQUIRE_BROWSER=1 (CI installs it: fail there)."""
    pytest.importorskip("selenium")
    if not (CHROMIUM and DRIVER):
        msg = "needs chromium and chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, path: str, token: str):
    with urllib.request.urlopen(f"{base}{path}?token={token}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def lab(tmp_path, phantom_dir):
    """A JupyterLab server over a copy of notebooks/; yields (base url, token, notebooks copy)."""
    nbs = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbs)
    for rel, value in LAB_SETTINGS.items():
        (tmp_path / "settings" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "settings" / rel).write_text(json.dumps(value))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "COURSE_PROGRESS")}  # inline figures
    env.update(COURSE_PROFILE="smoke", COURSE_DATASET="phantom", COURSE_DATA_DIR=str(phantom_dir),
               COURSE_RUNS_DIR=str(tmp_path / "runs"), OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    port, token = _free_port(), "course-browser-test"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={nbs}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(cmd, env=env, cwd=nbs, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _api(base, "/api/status", token)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, nbs
    finally:
        server.terminate()  # the server shuts its kernels down
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(flag)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))  # both named: no Selenium Manager lookup
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _poll(check, timeout: float, poll: float = 0.5):
    """check()'s first truthy result within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(poll)
    return None


def _wait(what: str, check, timeout: float, poll: float = 0.5):
    got = _poll(check, timeout, poll)
    if not got:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return got


def _kernel_state(base, token, name) -> str | None:
    for s in _api(base, "/api/sessions", token):
        if s.get("path", "").endswith(name) and s.get("kernel"):
            return s["kernel"]["execution_state"]
    return None


def _prompts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]


def _menu(driver, menu: str, command: str) -> None:
    """Click a menu bar entry, then the item that runs `command` (JupyterLab's command id)."""
    from selenium.webdriver.common.by import By

    bar = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if e.text.strip() == menu]
    assert bar, f"no '{menu}' menu"
    bar[0].click()
    item = _wait(f"menu item {command}", lambda: driver.find_elements(
        By.CSS_SELECTOR, f".lm-Menu-item[data-command='{command}']"), 10)
    item[0].click()


def _open(driver, base, token, name: str, log: Path, tries: int = 2, wait: float = 120) -> None:
    """Open `name` and wait until its cells are shown and its kernel is idle. On a loaded machine
    the page or the kernel can be slow: a dialog (such as a kernel choice) is accepted, and the
    page is loaded again once before the test fails with what the page and the server showed."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    def ready():
        for button in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"):
            try:
                button.click()
            except WebDriverException:  # the dialog closed or moved meanwhile
                pass
        return (driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
                and _kernel_state(base, token, name) == "idle")

    for _ in range(tries):
        driver.get(f"{base}/lab/tree/{name}?token={token}")
        if _poll(ready, wait):
            return
    driver.save_screenshot(str(SHOTS / f"{Path(name).stem}_not_ready.png"))
    cells = len(driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell"))
    dialogs = [d.text for d in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")]
    pytest.fail(f"{name} not ready after {tries} loads of {wait:.0f} s: {cells} code cells shown, "
                f"kernel {_kernel_state(base, token, name)!r}, dialogs {dialogs}; server log:\n"
                f"{log.read_text()[-3000:]}")


def _run_all(driver, base, token, nbs: Path, name: str, timeout: float) -> nbformat.NotebookNode:
    """Open `name`, Run > Run All Cells, wait for the kernel to go idle, save; the saved copy."""
    _open(driver, base, token, name, nbs.parent / "server.log")
    _menu(driver, "Run", "runmenu:run-all")
    quiet = []  # idle with nothing queued, several polls in a row (a cell's outputs may still arrive)

    def finished():
        busy = any(p.startswith("[*]") for p in _prompts(driver))
        quiet.append(not busy and _kernel_state(base, token, name) == "idle")
        return len(quiet) >= 3 and all(quiet[-3:])

    _wait(f"{name} to finish", finished, timeout, poll=1.0)
    driver.save_screenshot(str(SHOTS / f"{Path(name).stem}_run_all.png"))
    before = (nbs / name).stat().st_mtime_ns  # an autosave during the run would be incomplete
    _menu(driver, "File", "docmanager:save")
    _wait(f"{name} saved", lambda: (nbs / name).stat().st_mtime_ns > before, 30)
    return _wait(f"{name} readable", lambda: _read(nbs / name), 10)


def _read(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # caught mid-write
        return None


def _assert_ran_cleanly(driver, nb: nbformat.NotebookNode, name: str) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: {errors}"
    assert all(c.execution_count for c in code), f"{name}: not every cell ran"
    shown = driver.find_element("css selector", ".jp-Notebook").text
    for bad in ("Traceback (most recent call last)", "Error displaying widget", "Error rendering"):
        assert bad not in shown, f"{name} shows '{bad}'"


def _slider_moves(driver) -> None:
    """Notebook 06's forward-process slider: drag it, then step it with the keyboard; each
    move changes the readout and draws a new figure in the widget's output."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    slider = driver.find_element(By.CSS_SELECTOR, ".widget-slider")
    box = slider.find_element(By.XPATH, "./ancestor::div[contains(@class, 'widget-vbox')][1]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
    handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
    assert readout.text.strip() == "0" and not box.find_elements(By.TAG_NAME, "img")  # drawn only when moved

    track = slider.find_element(By.CSS_SELECTOR, ".noUi-target").size["width"]
    ActionChains(driver).click_and_hold(handle).move_by_offset(int(track * 0.3), 0).release().perform()  # to ~t/3
    first = _wait("the slider's readout to change", lambda: readout.text.strip() not in ("", "0") and readout.text, 15)
    img = _wait("a figure for the new t", lambda: box.find_elements(By.TAG_NAME, "img"), 30)[0].get_attribute("src")
    driver.save_screenshot(str(SHOTS / "06_slider_dragged.png"))

    handle.send_keys(Keys.ARROW_RIGHT)
    second = _wait("the readout to step", lambda: readout.text.strip() != first.strip() and readout.text, 15)
    assert int(second) > int(first)
    _wait("a figure for the stepped t", lambda: [i for i in box.find_elements(By.TAG_NAME, "img")
                                                 if i.get_attribute("src") != img], 30)
    driver.save_screenshot(str(SHOTS / "06_slider_stepped.png"))


def test_notebooks_01_and_06_run_in_jupyterlab(lab, browser):
    base, token, nbs = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("01_data_acquisition.ipynb", "06_ddpm.ipynb"):
        nb = _run_all(browser, base, token, nbs, name, timeout=300)
        _assert_ran_cleanly(browser, nb, name)
    _slider_moves(browser)  # notebook 06 is still the open page
