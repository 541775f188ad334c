"""The website in a real browser: headless Chromium (Debian's chromium and chromium-driver),
driven by Selenium, on the sample book's site served from 127.0.0.1.

Checks that clicking a tab switches every tab set on the page, that the choice follows the
reader to the next page and that ``?tab=`` selects one, that MathJax (served by the site,
no network) typesets the math, that a :numref: link lands on its target, and that the
browser logs no errors. Saves screenshots to _build/screenshots/.
"""

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "_build" / "screenshots"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
           "/usr/bin/chromedriver): apt-get install chromium chromium-driver; .ci/run does")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(sample_site):
    root, result = sample_site
    assert result.returncode == 0, result.log
    handler = functools.partial(QuietHandler, directory=str(result.out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def open_page(browser, url):
    browser.get(url)
    wait(browser, "return document.readyState === 'complete'")
    # MathJax loads deferred and typesets asynchronously
    wait(browser, "return !window.MathJax || !MathJax.startup || !!MathJax.startup.document"
                  " && MathJax.startup.document.processed !== false")
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "  MathJax.startup.promise.then(() => done(true), () => done(false));"
        "else done(true);")


def wait(browser, script, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.execute_script(script):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def shown_tabs(browser):
    """For each tab set on the page: the tabs whose panels are visible, and the selected
    button."""
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('.d2l-tabset')).map(set => ({
          visible: Array.from(set.querySelectorAll('.d2l-tabpanel'))
                     .filter(p => p.offsetParent !== null).map(p => p.dataset.tab),
          selected: Array.from(set.querySelectorAll('.d2l-tab-button'))
                     .filter(b => b.getAttribute('aria-selected') === 'true')
                     .map(b => b.dataset.tab),
        }));""")


def console_errors(browser):
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_tabs_switch_together_and_persist(server, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{server}/chapter_one/tensors.html")
    browser.execute_script("localStorage.clear()")
    open_page(browser, f"{server}/chapter_one/tensors.html")
    sets = shown_tabs(browser)
    assert len(sets) == 2
    assert all(s == {"visible": ["mxnet"], "selected": ["mxnet"]} for s in sets), sets

    buttons = browser.find_elements(By.CSS_SELECTOR, '.d2l-tab-button[data-tab="pytorch"]')
    buttons[0].click()
    assert all(s == {"visible": ["pytorch"], "selected": ["pytorch"]} for s in shown_tabs(browser))
    # the notebook and Colab links follow the tab
    links = browser.find_elements(By.CSS_SELECTOR, "a.d2l-notebook-link")
    assert [a.get_attribute("data-tab") for a in links if a.is_displayed()] == ["pytorch"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("document.querySelector('.d2l-tabset').scrollIntoView()")
    browser.save_screenshot(str(SCREENSHOTS / "tabs-pytorch.png"))

    browser.find_element(By.CSS_SELECTOR, "a.right-next").click()
    wait(browser, "return location.pathname.endsWith('/chapter_one/mxnet_only.html')")
    open_page(browser, browser.current_url)
    assert shown_tabs(browser) == [{"visible": ["pytorch"], "selected": ["pytorch"]}]
    empty = browser.find_element(By.CSS_SELECTOR, '.d2l-tabpanel[data-tab="pytorch"] .d2l-tab-empty')
    assert empty.is_displayed()

    # a query selects a tab, and is remembered
    open_page(browser, f"{server}/chapter_one/tensors.html?tab=mxnet")
    assert all(s["visible"] == ["mxnet"] for s in shown_tabs(browser))
    open_page(browser, f"{server}/chapter_one/mxnet_only.html")
    assert shown_tabs(browser)[0]["visible"] == ["mxnet"]
    assert console_errors(browser) == []


def test_math_is_typeset_offline(server, browser):
    open_page(browser, f"{server}/chapter_one/tensors.html")
    text = browser.execute_script("return document.querySelector('article').innerText")
    assert "\\(" not in text and "\\[" not in text
    containers = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    assert containers >= 2  # inline x^2 and the numbered equation
    assert browser.execute_script(
        "return !!document.querySelector('#equation-eq-sum mjx-container')")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "section.png"))
    assert console_errors(browser) == []


def test_a_numref_link_lands_on_its_target(server, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{server}/chapter_one/mxnet_only.html")
    link = browser.find_element(By.XPATH, "//article//a[normalize-space()='Fig. 1.1.1']")
    link.click()
    wait(browser, "return location.hash === '#fig-boxes'")
    assert browser.current_url.split("#")[0].endswith("/chapter_one/tensors.html")
    wait(browser, "const r = document.getElementById('fig-boxes').getBoundingClientRect();"
                  "return r.top >= 0 && r.top < window.innerHeight")
    caption = browser.find_element(By.CSS_SELECTOR, "#fig-boxes .caption-number").text
    assert caption.startswith("Fig. 1.1.1")
    assert console_errors(browser) == []


def test_front_page_and_dark_mode(server, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{server}/index.html")
    assert browser.find_element(By.CSS_SELECTOR, ".sample-front").is_displayed()
    browser.execute_script("document.documentElement.dataset.theme = 'dark'")
    open_page(browser, f"{server}/chapter_one/tensors.html")
    assert console_errors(browser) == []
