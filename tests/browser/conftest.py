"""Playwright driving Debian's Chromium (no browser download)."""
import os
import shutil
import signal

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package "
                    "(apt-get install chromium)")
    # Playwright's stop() never returns under eventlet's hub (its asyncio loop
    # waits for the driver forever): close the browser, then end the driver.
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    _terminate_playwright_driver()


def _terminate_playwright_driver():
    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if stat.rsplit(") ", 1)[1].split()[1] == me and b"playwright" in cmdline:
            os.kill(int(pid), signal.SIGTERM)


def _page(browser, cluster):
    context = browser.new_context(base_url=cluster.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


@pytest.fixture
def page(browser, cluster):
    context, page = _page(browser, cluster)
    yield page
    context.close()


@pytest.fixture
def bank_page(browser, bank_cluster):
    """A page on the cluster whose clock walks through the bank cycle."""
    context, page = _page(browser, bank_cluster)
    yield page
    context.close()
