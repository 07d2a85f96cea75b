"""The Temporal Web UI of ``ductape-jobs dev``, driven in headless Chromium (issue 8).

The real dev stack (codec server, dev server with ``--ui-codec-endpoint``, worker, echo target) runs
with payload encryption on; the test dispatches jobs with the Ductape client and checks what a person
opening the UI would see. Screenshots land in ``.artifacts/web-ui/`` of the repository.

Where the job summary appears: the workflow list of the bundled UI (2.54.1) has no summary column
("Configure Columns" offers none), so the list is checked for the jobs' workflow IDs, and each job's
page for its summary (Summary of the "Workflow Execution Started" event in the event history, and the
Summary card of the "User Metadata" tab) and for its decoded input (the "Input" card). Summary and
input are stored encrypted (checked with a client without the keyring): the UI shows them in clear
only through the codec server.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from temporalio.client import Client

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import connect_client
from ductape_jobs.codec.encryption import ENCODING
from ductape_jobs.dev.server import DevServerOptions
from ductape_jobs.dev.stack import DevStack, run_dev_stack
from ductape_jobs.settings import Settings
from tests.conftest import SECRETS, TEST_KEYRING, product_config_for
from tests.support.ports import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "web-ui"
SUMMARY = "action email-service/send_welcome_email · my-product/dev"
PRODUCT_QUERY = 'DuctapeProduct = "my-product"'
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the test may run as root (CI containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # No network here: nothing may phone home or wait for an update check.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]
UI_WAIT_S = 20.0


@dataclass(frozen=True)
class Browser:
    chromium: str
    chromedriver: str


def require_browser() -> Browser:
    """Chromium and chromedriver from PATH; skips without them (CI installs Debian's packages)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium and chromedriver:
        return Browser(chromium, chromedriver)
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", chromedriver)) if not path]
    reason = f"{' and '.join(missing)} not found on PATH (Debian: apt-get install chromium chromium-driver)"
    pytest.skip(reason)


@pytest.fixture
def browser() -> Browser:
    return require_browser()


@dataclass(frozen=True)
class RunningStack:
    settings: Settings
    ui_url: str
    client: Client
    ductape: Ductape


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        # RuntimeError: the frontend is not up yet (Client.connect); HTTPError: nor is the UI.
        with contextlib.suppress(RuntimeError, httpx.HTTPError):
            if await check():
                return
        assert time.monotonic() < deadline, f"{what}: not ready in {within:.0f} s"
        await asyncio.sleep(0.2)


@pytest.fixture
async def dev_stack(browser: Browser, tmp_path: Path) -> AsyncIterator[RunningStack]:
    """The whole ``ductape-jobs dev`` stack on free ports (started after ``browser``: a skip costs nothing)."""
    options = DevServerOptions(port=free_port(), ui_port=free_port(), data_dir=tmp_path / "data")
    task_queue = f"tq-ui-{uuid.uuid4().hex[:8]}"
    settings = Settings(address=options.address, task_queue=task_queue)
    config = product_config_for(f"http://127.0.0.1:{(echo_port := free_port())}")
    stack = DevStack(
        server=options,
        settings=settings,
        config=config,
        secrets=SecretStore(SECRETS),
        keyring=TEST_KEYRING,
        echo_port=echo_port,
        codec_port=free_port(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_dev_stack(stack, stop))
    ui_url = f"http://127.0.0.1:{options.ui_port}"
    try:
        clients: list[Client] = []

        async def connected() -> bool:
            if task.done():  # the stack's own error, not a 30 s timeout (DevServerError is a RuntimeError)
                raise AssertionError("the dev stack exited") from task.exception()
            clients.append(await connect_client(settings, TEST_KEYRING))
            return True

        async def ui_answers() -> bool:
            async with httpx.AsyncClient(timeout=2.0) as http:
                return (await http.get(ui_url)).status_code == 200

        await _until(connected, "Temporal dev server")
        await _until(ui_answers, "Web UI")
        ductape = Ductape(clients[0], task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
        yield RunningStack(settings=settings, ui_url=ui_url, client=clients[0], ductape=ductape)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def _chrome(browser: Browser, profile: Path) -> WebDriver:
    options = Options()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.binary_location = browser.chromium
    return webdriver.Chrome(options=options, service=Service(browser.chromedriver))


def _page_text(driver: WebDriver) -> str:
    # innerText in one script call: WebDriver's element text is far slower on the long history page.
    text = driver.execute_script("return document.body ? document.body.innerText : ''")
    return text if isinstance(text, str) else ""


def _wait_for_texts(driver: WebDriver, texts: list[str], page: str) -> None:
    def shown(drv: WebDriver) -> bool:
        return all(text in _page_text(drv) for text in texts)

    try:
        WebDriverWait(driver, UI_WAIT_S, poll_frequency=0.25).until(shown)
    except Exception as err:
        body = _page_text(driver)
        missing = [text for text in texts if text not in body]
        raise AssertionError(f"{page}: the UI never showed {missing!r}") from err


def drive_ui(browser: Browser, profile: Path, ui_url: str, jobs: dict[str, tuple[str, str]]) -> None:
    """Open the filtered list, each job's history page and one job's user metadata; screenshots into
    ``ARTIFACTS``.

    ``jobs`` maps workflow ID to (run ID, the userId dispatched). Runs on a thread: the codec server
    shares the test's event loop, and a blocked loop would leave the UI waiting on it.

    Raises:
        AssertionError: a page never showed what it should.
    """
    driver = _chrome(browser, profile)
    try:
        query = urllib.parse.quote(PRODUCT_QUERY, safe="")
        driver.get(f"{ui_url}/namespaces/default/workflows?query={query}")
        _wait_for_texts(driver, [PRODUCT_QUERY, *jobs], "workflow list")
        driver.save_screenshot(str(ARTIFACTS / "workflow-list.png"))
        for index, (workflow_id, (run_id, user_id)) in enumerate(jobs.items()):
            path = f"{urllib.parse.quote(workflow_id, safe='')}/{run_id}/history"
            driver.get(f"{ui_url}/namespaces/default/workflows/{path}")
            # The Input card and event 1's Summary: both exist in clear only after the codec decoded them.
            _wait_for_texts(driver, [workflow_id, "Input", f'"userId": "{user_id}"', "Summary", SUMMARY], workflow_id)
            if index == 0:
                driver.save_screenshot(str(ARTIFACTS / "job-page.png"))
                # The summary's own card (the history page shows it below the fold). The UI renders it
                # as markdown inside an iframe, so its text is read there.
                driver.find_element(By.CSS_SELECTOR, '[data-testid="user-metadata-tab"]').click()
                WebDriverWait(driver, UI_WAIT_S).until(
                    expected_conditions.frame_to_be_available_and_switch_to_it((By.ID, "user-metadata-summary"))
                )
                _wait_for_texts(driver, [SUMMARY], f"{workflow_id} user metadata summary")
                driver.switch_to.default_content()
                driver.save_screenshot(str(ARTIFACTS / "job-summary.png"))
    finally:
        driver.quit()


async def test_web_ui_lists_jobs_and_decodes_their_payloads_through_the_codec(
    browser: Browser, dev_stack: RunningStack, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshots = [ARTIFACTS / name for name in ("workflow-list.png", "job-page.png", "job-summary.png")]
    for stale in screenshots:
        stale.unlink(missing_ok=True)

    jobs: dict[str, tuple[str, str]] = {}
    for _ in range(2):
        user_id = f"ui-user-{uuid.uuid4().hex[:10]}"
        dispatched = await dev_stack.ductape.actions.dispatch(
            {
                "env": "dev",
                "product": "my-product",
                "app": "email-service",
                "event": "send_welcome_email",
                "input": {"body": {"userId": user_id}},
            }
        )
        outcome = await dev_stack.ductape.jobs.result(dispatched.job_id)
        assert outcome["body"]["body"] == {"userId": user_id}
        described = await dev_stack.client.get_workflow_handle(dispatched.job_id).describe()
        assert described.run_id is not None
        jobs[dispatched.job_id] = (described.run_id, user_id)

    # What the UI would show without the codec: the raw history, read without the keyring.
    raw = await connect_client(dev_stack.settings, None)
    for workflow_id, (_, user_id) in jobs.items():
        history = await raw.get_workflow_handle(workflow_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.input.payloads[0].metadata["encoding"] == ENCODING
        assert history.events[0].user_metadata.summary.metadata["encoding"] == ENCODING
        stored = b"".join(event.SerializeToString() for event in history.events)
        assert user_id.encode() not in stored
        assert SUMMARY.encode() not in stored

    async def listed() -> bool:
        found = [wf.id async for wf in dev_stack.client.list_workflows(PRODUCT_QUERY)]
        return set(jobs) <= set(found)

    await _until(listed, "visibility of the jobs")  # the UI list reads the same visibility store

    await asyncio.to_thread(drive_ui, browser, tmp_path / "chromium-profile", dev_stack.ui_url, jobs)

    for screenshot in screenshots:
        assert screenshot.is_file(), f"{screenshot} was not written"
        assert screenshot.read_bytes().startswith(b"\x89PNG"), f"{screenshot} is not a PNG"
        assert screenshot.stat().st_size > 1000, f"{screenshot} is empty"
