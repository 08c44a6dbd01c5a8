"""The web demo (app.py): its python functions, and the page driven in a real headless Chromium.

The browser tests need Debian's chromium and chromedriver (`bash .ci/install_browser.sh`, which `make test` runs);
without them they fail, they do not skip. The page must load nothing from outside this machine.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from app import PRECISION_CHOICES, ZooApp, build_demo, folders_from, launch, on_generate, on_lift
from models.mask_transformer.pipeline import PRECISIONS

# gradio 6.31's queue keeps its local event statistics with pandas calls that pandas 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

# The checkpoint folders the app is tested with; animals/ and people/ under it.
CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
PAGE_TIMEOUT = 30  # seconds for the page to load
RESULT_TIMEOUT = 180  # seconds for a generation or a lift to show up
PROMPT = "a dog trots forward"
FRAMES = 40  # the "2s" asked for below, at the animals' 20 fps
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:"), f"the page points outside this server: {url}"
    with LOCAL.open(url, timeout=30) as r:
        assert r.status == 200, url
        return r.read()


def coco17_json(path: Path, frames: int = 30) -> Path:
    """A person standing in a 640 x 480 image, swaying and stepping, as a detector writes it (COCO-17 triples)."""
    base = np.array([[320, 100], [330, 92], [310, 92], [340, 96], [300, 96], [360, 140], [280, 140], [375, 200],
                     [265, 200], [380, 255], [260, 255], [345, 260], [295, 260], [350, 340], [290, 340],
                     [352, 420], [288, 420]], float)
    out = []
    for t in range(frames):
        xy = base + [8 * np.sin(t / 5), 0]
        xy[[13, 15], 0] += 10 * np.sin(t / 3)  # left knee and ankle
        xy[[14, 16], 0] -= 10 * np.sin(t / 3)
        out.append({"keypoints": np.concatenate([xy, np.full((17, 1), 0.9)], 1).ravel().round(2).tolist()})
    path.write_text(json.dumps(out))
    return path


@pytest.fixture(scope="module")
def zoo_app(tmp_path_factory) -> ZooApp:
    folders = {d: CHECKPOINTS / d for d in ("animals", "people")}
    for folder in folders.values():
        assert (folder / "mask_transformer.safetensors").is_file(), f"{folder} holds no bundled models"
    return ZooApp(folders, tmp_path_factory.mktemp("app_out"), device="cpu")


# ---- the python functions behind the page -----------------------------------------------------------------------
def test_generate_returns_files_that_exist(zoo_app):
    updates = on_generate(zoo_app, PROMPT, "dog", "female", "2s", 5, 4.0, 2, "fp32")
    videos, files = updates[0:-1:2], updates[1:-1:2]
    assert [v["visible"] for v in videos] == [True, True, False, False]
    for k in range(2):
        assert Path(videos[k]["value"]).stat().st_size > 0 and f"seed {5 + k}" in files[k]["label"]
        joints, feats, bvh = map(Path, files[k]["value"])
        assert np.load(joints).shape == (FRAMES, 30, 3)
        assert np.load(feats).shape == (FRAMES, 359)
        assert bvh.read_text().startswith("HIERARCHY")
        meta = json.loads((joints.parent / "prompt.json").read_text())
        assert (meta["seed"], meta["guidance"], meta["precision"], meta["steps"]) == (5 + k, 4.0, "fp32", 10)
    assert "2 motion(s)" in updates[-1] and "(fp32)" in updates[-1] and "never saw" not in updates[-1]
    # words the bundled animal model never saw in training are named under the motions
    status = on_generate(zoo_app, "a dog zooms along", "dog", "male", "2s", 0, 2.5, 1, "fp32")[-1]
    assert "The model never saw *zooms* in training" in status
    assert Path(files[1]["value"][0]).name == "dog_seed6_joints.npy"
    assert zoo_app.pipeline("cat") is zoo_app.pipeline("dog")  # loaded once per checkpoint folder


def test_precisions_on_the_page_are_the_pipelines(zoo_app):
    assert [value for _, value in PRECISION_CHOICES] == list(PRECISIONS)
    int8 = on_generate(zoo_app, PROMPT, "dog", "female", "2s", 5, 4.0, 1, "int8")
    meta = json.loads((Path(int8[1]["value"][0]).parent / "prompt.json").read_text())
    assert meta["precision"] == "int8" and "(int8)" in int8[-1]
    assert np.isfinite(np.load(int8[1]["value"][0])).all()
    # the request ran the pipeline's int8 copies of both transformers
    assert {("transformer", "int8"), ("residual", "int8")} <= set(zoo_app.pipeline("dog")._runnables)


def test_the_pages_first_precision_is_the_apps(tmp_path):
    demo = build_demo(ZooApp({}, tmp_path, precision="bf16"))
    [radio] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "t2m-precision"]
    assert radio.value == "bf16"


@pytest.mark.parametrize("text, length, precision, message", [
    ("   ", "2s", "fp32", "prompt is empty"),
    (PROMPT, "two seconds", "fp32", "neither frames (120) nor seconds (6s)"),
    (PROMPT, "900", "fp32", "outside this model's range"),
    (PROMPT, "2s", "fp16", "unknown precision 'fp16'; choose one of fp32, bf16, int8"),
])
def test_user_errors_are_gradio_errors(zoo_app, text, length, precision, message):
    with pytest.raises(gr.Error) as e:
        on_generate(zoo_app, text, "dog", "male", length, 0, 4.0, 1, precision)
    assert message in e.value.message


def test_old_request_folders_are_deleted(tmp_path):
    app = ZooApp({}, tmp_path / "out", keep=3)
    made = []
    for _ in range(5):
        made.append(app.request_folder("t2m"))
        (made[-1] / "joints.npy").write_bytes(b"x")
        time.sleep(0.01)  # distinct modification times
    assert sorted(p for p in (tmp_path / "out").iterdir()) == sorted(made[-3:])


def test_lift_function_and_a_bad_file(zoo_app, tmp_path):
    video, files, status = on_lift(zoo_app, str(coco17_json(tmp_path / "walk.json")), 640, 480, "auto")
    assert Path(video).stat().st_size > 0 and "30 frames" in status
    assert np.load(files[0]).shape == (30, 22, 3)  # COCO-17 -> h36m17 -> the people lifter's humanml22
    assert Path(files[-1]).read_text().startswith("HIERARCHY")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(gr.Error, match="malformed JSON"):
        on_lift(zoo_app, str(tmp_path / "broken.json"), None, None, "auto")


def test_checkpoint_folders_from_a_root_or_one_by_one(tmp_path):
    (tmp_path / "animals").mkdir()
    (tmp_path / "mine").mkdir()
    args = argparse.Namespace(checkpoints_root=str(tmp_path), animals=None, people=str(tmp_path / "mine"))
    assert folders_from(args) == {"animals": tmp_path / "animals", "people": tmp_path / "mine"}
    args.people = None
    with pytest.raises(SystemExit, match="people checkpoint folder .* does not exist; give --people DIR"):
        folders_from(args)


# ---- the page in a browser ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(zoo_app) -> gr.Blocks:
    """The app served on a free port of 127.0.0.1 in this process (its url: server.local_url)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo(zoo_app)
    launch(demo, zoo_app, "127.0.0.1", port, block=False)
    assert demo.local_url == f"http://127.0.0.1:{port}/"
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("the browser test needs Debian's chromium and chromedriver: run `bash .ci/install_browser.sh` "
                    "(`make test` does)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    # an explicit driver path: selenium-manager (which would download a driver) never runs
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    yield driver
    driver.quit()


def wait_for(driver, css: str, timeout: float, attr: str | None = None, text: str | None = None):
    """The first element matching `css` (with a non-empty `attr`, holding `text`, when given), or fail with the
    page's messages."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        if text is None:  # an error message on the page ends the wait: it says why (and its toast fades in 10 s)
            for toast in d.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body].error"):
                pytest.fail(f"waiting for {css}, the page said: {toast.text}")
        for el in d.find_elements(By.CSS_SELECTOR, css):
            if (attr is None or el.get_attribute(attr)) and (text is None or text in el.text):
                return el
        return False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(found)
    except TimeoutException:
        toasts = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]")]
        pytest.fail(f"no {css} after {timeout} s; messages on the page: {toasts}")


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_generate_in_the_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.local_url)
    text = wait_for(browser, "#t2m-text textarea", PAGE_TIMEOUT)
    generate = browser.find_element(By.CSS_SELECTOR, "#t2m-generate")

    generate.click()  # an empty prompt: the user sees why, not a stack trace
    wait_for(browser, "[data-testid=toast-text]", PAGE_TIMEOUT, text="the prompt is empty")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=toast-close]").click()
    toasts = (By.CSS_SELECTOR, "[data-testid=toast-body]")
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: not d.find_elements(*toasts))

    text.send_keys(PROMPT)
    browser.find_element(By.CSS_SELECTOR, "#t2m-length textarea, #t2m-length input").send_keys("2s")
    int8 = next(el for el in browser.find_elements(By.CSS_SELECTOR, "#t2m-precision label")
                if el.text.strip() == "int8 (CPU)")
    int8.click()
    generate.click()
    video = wait_for(browser, "#t2m-video-0 video", RESULT_TIMEOUT, attr="src")
    wait_for(browser, "#t2m-status", PAGE_TIMEOUT, text="(int8)")  # the request ran with the precision chosen
    assert fetch(video.get_attribute("src"))[4:8] == b"ftyp"  # an mp4, served
    wait_for(browser, "#t2m-files-0 a[href]", PAGE_TIMEOUT)
    links = {a.get_attribute("href").rsplit("/", 1)[-1]: a.get_attribute("href")
             for a in browser.find_elements(By.CSS_SELECTOR, "#t2m-files-0 a[href]")}
    joints = next(url for name, url in links.items() if name.endswith("_joints.npy"))
    bvh = next(url for name, url in links.items() if name.endswith(".bvh"))
    assert np.load(io.BytesIO(fetch(joints))).shape == (FRAMES, 30, 3)
    assert fetch(bvh).startswith(b"HIERARCHY")
    assert browser.save_screenshot(str(tmp_path / "page.png")) and (tmp_path / "page.png").stat().st_size > 10_000

    urls = requested_urls(browser)
    assert any(u.startswith(server.local_url + "assets/") for u in urls)  # the log did record the page's requests
    outside = [u for u in urls if not u.startswith((server.local_url, "data:", "blob:"))]
    assert not outside, f"the page loaded from outside this machine: {outside}"


def test_lift_in_the_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server.local_url)
    wait_for(browser, "#t2m-text textarea", PAGE_TIMEOUT)
    tab = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if "Lifting" in b.text)
    tab.click()
    upload = wait_for(browser, "#lift-file input[type=file]", PAGE_TIMEOUT)
    upload.send_keys(str(coco17_json(tmp_path / "walk.json")))
    wait_for(browser, "#lift-file a[href]", PAGE_TIMEOUT)  # uploaded
    browser.find_element(By.CSS_SELECTOR, "#lift-run").click()
    video = wait_for(browser, "#lift-video video", RESULT_TIMEOUT, attr="src")
    assert fetch(video.get_attribute("src"))[4:8] == b"ftyp"
    wait_for(browser, "#lift-files a[href]", PAGE_TIMEOUT)
    joints = next(a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#lift-files a[href]")
                  if a.get_attribute("href").endswith("_joints.npy"))
    assert np.load(io.BytesIO(fetch(joints))).shape == (30, 22, 3)
    assert browser.save_screenshot(str(tmp_path / "lift.png")) and (tmp_path / "lift.png").stat().st_size > 10_000


def test_served_locally_without_analytics(server):
    assert server.analytics_enabled is False and server.share is False and server.share_url is None
