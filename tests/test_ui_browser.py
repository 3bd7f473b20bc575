"""The web view in a real browser: headless Debian Chromium driven by selenium clicks
through every page of ``artstore ui`` (a real subprocess), checks the lineage graph draws
nodes, that hostile names stay inert (no dialog, no injected element, no script), and
that no request leaves 127.0.0.1. Screenshots are saved in the test's tmp folder.

CI installs chromium (.ci/run); the suite skips only where Chromium is absent and apt is
not there to install it."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import ui_store

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if shutil.which("apt-get") is None:
        pytest.skip("no /usr/bin/chromium and no apt-get to install it (Debian: apt-get install chromium "
                    "chromium-driver)", allow_module_level=True)
    pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium chromium-driver "
                "(.ci/run installs them)", pytrace=False)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`artstore ui --port 0` on the UI test store; yields its base URL."""
    root = ui_store.build(tmp_path_factory.mktemp("browser") / "proj")
    proc = subprocess.Popen([sys.executable, "-m", "artstore", "--store", str(root), "ui", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    url = line.split(" at ", 1)[1].split()[0]
    yield url.rstrip("/")
    proc.terminate()
    assert proc.wait(timeout=15) == 0
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def requested_urls(driver):
    """URLs the browser asked for since the last call (Chrome's performance log)."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            out.append(message["params"]["request"]["url"])
    return out


def assert_inert(driver):
    """No dialog opened, no element from data, no script at all on the page."""
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 (the property raises when no dialog is open)
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x'], img[onerror], svg[onload]") == []


def visit(driver, shots, name):
    assert_inert(driver)
    assert "Internal" not in driver.title and "Traceback" not in driver.page_source
    driver.save_screenshot(str(shots / f"{name}.png"))


def test_click_through_every_page(site, browser, shots):
    b = browser
    b.get(site + "/")
    visit(b, shots, "01-artifacts")
    assert b.find_element(By.CSS_SELECTOR, "table.artifacts")
    b.find_element(By.LINK_TEXT, "demo/mnist").click()
    visit(b, shots, "02-artifact")
    rows = b.find_elements(By.CSS_SELECTOR, "table.versions tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["2.0.0", "1.0.0"]  # newest first
    b.find_element(By.LINK_TEXT, "1.0.0").click()
    visit(b, shots, "03-version")
    svg = b.find_element(By.CSS_SELECTOR, "svg.lineage")
    assert svg.size["width"] > 100 and svg.size["height"] > 30
    assert b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.version rect")
    assert b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.run ellipse")
    assert len(b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.focus")) == 1
    b.find_element(By.LINK_TEXT, "data/").click()
    visit(b, shots, "04-folder")
    b.find_element(By.LINK_TEXT, "labels.csv").click()
    visit(b, shots, "05-file-csv")
    assert len(b.find_elements(By.CSS_SELECTOR, "table.csv tbody tr")) == 50
    b.back()
    b.find_element(By.LINK_TEXT, "images/").click()
    b.find_element(By.LINK_TEXT, "cat.png").click()
    visit(b, shots, "06-file-image")
    img = b.find_element(By.CSS_SELECTOR, "img.preview")
    assert b.execute_script("return arguments[0].naturalWidth", img) == 8  # the PNG decoded
    b.get(site + "/a/demo/mnist/1.0.0")
    b.find_element(By.PARTIAL_LINK_TEXT, "with next").click()
    visit(b, shots, "07-compare")
    assert "1 added" in b.find_element(By.CSS_SELECTOR, ".facts").text
    assert b.find_elements(By.CSS_SELECTOR, "pre.diff .add")
    b.find_element(By.LINK_TEXT, "Runs").click()
    visit(b, shots, "08-runs")
    b.find_element(By.LINK_TEXT, "train").click()
    visit(b, shots, "09-run")
    assert "demo/model:1.0.0" in b.find_element(By.CSS_SELECTOR, "ul.produced").text


def test_large_fan_out_folds_and_expands(site, browser, shots):
    b = browser
    b.get(site + "/a/demo/model/1.0.0/lineage")
    visit(b, shots, "10-lineage-folded")
    more = b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.more")
    assert len(more) == 1 and "more" in more[0].text
    shards = len(b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.version"))
    b.find_element(By.CSS_SELECTOR, "svg.lineage a g.node.more").click()
    visit(b, shots, "11-lineage-expanded")
    assert not b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.more")
    assert len(b.find_elements(By.CSS_SELECTOR, "svg.lineage g.node.version")) > shards


def test_hostile_names_render_inert(site, browser, shots):
    b = browser
    b.get(site + "/")
    link = b.find_element(By.PARTIAL_LINK_TEXT, "onerror")
    assert "<img" in link.text  # shown as text
    link.click()
    visit(b, shots, "12-hostile-artifact")
    b.find_element(By.CSS_SELECTOR, "table.versions tbody a").click()
    visit(b, shots, "13-hostile-version")
    page = b.page_source
    assert "U+202E" in page  # the bidi override is shown, not obeyed
    # HOSTILE_PATH is dir <script>alert(1)< / script> / "><img ...>.txt: three levels.
    b.find_element(By.PARTIAL_LINK_TEXT, "dir <script>").click()
    visit(b, shots, "14-hostile-folder")
    b.find_element(By.LINK_TEXT, "script>/").click()
    b.find_element(By.CSS_SELECTOR, "table.files tr.file a").click()
    visit(b, shots, "15-hostile-file")
    assert "<script>alert(1)</script>" in b.find_element(By.CSS_SELECTOR, "pre.text").text


def test_no_request_left_localhost(site, browser):
    """Every kind of page, with its style sheet, images and graph: the browser asks
    127.0.0.1 for everything (this test visits them itself: under pytest-xdist the other
    tests of this module may run in another worker's browser)."""
    requested_urls(browser)  # start from an empty log
    for path in ("/", "/runs", "/a/demo/mnist", "/a/demo/mnist/1.0.0", "/a/demo/mnist/1.0.0/lineage",
                 "/a/demo/mnist/1.0.0/files/data/images/cat.png", "/a/demo/mnist/1.0.0/files/data/images/drawing.svg",
                 "/a/demo/mnist/1.0.0/files/data/labels.csv", "/compare/demo/mnist:1.0.0...demo/mnist:2.0.0"):
        browser.get(site + path)
        assert_inert(browser)
    urls = requested_urls(browser)
    # chrome:// and data: URLs are the browser's own pages and inline data, not network.
    network = [u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")]
    assert len(network) >= 10, network  # the pages, the style sheet, the image
    assert site + "/a/demo/mnist/1.0.0/raw/data/images/cat.png" in network
    outside = [u for u in network if not u.startswith(site + "/")]
    assert outside == [], outside
