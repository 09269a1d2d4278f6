"""Real-browser tests (Playwright driving Debian's chromium; marker ``browser``).

* the course site (docs/build_site.py, built here from the committed notebooks): every page loads
  with no console error or failed request, every image has a non-zero natural size, the math is
  typeset by the bundled MathJax, a hidden solution opens on a click, the "Show solution" buttons
  are numbered, and the animation buttons draw their icons (inline SVG, no font needed);
* the demo page (``python -m acgan_lib demo``): picking a class and moving a slider change the
  digit's pixels, and a bad request is answered 4xx;
* notebook 07 in JupyterLab: run all, the first ipywidgets slider renders, and moving it changes
  that cell's output image.

Playwright cannot download its own browsers here; it launches /usr/bin/chromium (``apt-get
install chromium``, which .ci/run does). Without that binary these tests skip and say so.
A failing test leaves a screenshot, the page's HTML and its console errors in build/test-artifacts/.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ACGAN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = "07_exploring_the_generator.ipynb"
SERVER_START_S = 180     # the demo loads and compiles the generator; JupyterLab starts a server
NOTEBOOK_RUN_S = 240     # run-all of notebook 07 in the smoke setting on a 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
                       reason=f"no chromium at {CHROMIUM}: `apt-get install chromium` (or set ACGAN_CHROMIUM) "
                              "to run the browser tests"),
]


# -- shared fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # in the test extra; a missing one is an error

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


class Watched:
    """A page plus every console error, uncaught exception and failed request it produced."""

    def __init__(self, page):
        self.page, self.problems = page, []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))


@pytest.fixture
def page(browser):
    """A fresh page in its own browser context (tests screenshot it on failure)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page())
    context.close()


@contextlib.contextmanager
def screenshot_on_failure(watched, name: str):
    """Screenshot the page into build/test-artifacts when the block raises, then re-raise."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            watched.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        with contextlib.suppress(Exception):
            (ARTIFACTS / f"{name}.html").write_text(watched.page.content())
        with contextlib.suppress(Exception):
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(watched.problems))
        raise


def pixels(png: bytes) -> np.ndarray:
    import matplotlib.image
    return np.asarray(matplotlib.image.imread(io.BytesIO(png), format="png"))


def differs_pixels(pa: np.ndarray, pb: np.ndarray) -> float:
    """Mean absolute difference of two decoded images of one shape (0 = identical)."""
    assert pa.shape == pb.shape, (pa.shape, pb.shape)
    return float(np.abs(pa.astype(float) - pb.astype(float)).mean())


def differs(a: bytes, b: bytes) -> float:
    """Mean absolute pixel difference of two PNG screenshots (0 = identical)."""
    return differs_pixels(pixels(a), pixels(b))


def png_of(src: str) -> np.ndarray:
    """The pixels of an <img> whose src is a base64 PNG data URL (Jupyter's image outputs)."""
    import base64
    assert src.startswith("data:image/png;base64,"), src[:60]
    return pixels(base64.b64decode(src.split(",", 1)[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5):
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "MPLBACKEND": "Agg", "ACGAN_SMOKE": "1", "PYTHONUNBUFFERED": "1"}


# -- 1. the course site ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built now from the committed notebooks (the same script as `make site`)."""
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "build_site.py"), "--out", str(out / "html"),
                        "--src", str(out / "src")], capture_output=True, text=True, timeout=600, env=child_env())
    assert r.returncode == 0, f"site build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return out / "html"


def site_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_"))


def test_site_has_the_landing_page_and_every_notebook(site):
    pages = {p.relative_to(site).as_posix() for p in site_pages(site)}
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert "index.html" in pages
    assert {f"notebooks/{n}.html" for n in notebooks} <= pages
    index = (site / "index.html").read_text()
    for n in notebooks:  # the table of contents links every notebook
        assert f'href="notebooks/{n}.html"' in index


def test_every_site_page_renders_offline(site, page):
    """No console error or failed request, images decoded, math typeset, on every page."""
    math_total = 0
    checked = []
    for path in site_pages(site):
        name = path.relative_to(site).as_posix()
        with screenshot_on_failure(page, "site_" + name.replace("/", "_")):
            page.problems.clear()
            page.page.goto(path.as_uri(), wait_until="load")
            # MathJax typesets asynchronously: wait until no math element is left untypeset
            page.page.wait_for_function(
                "() => [...document.querySelectorAll('.math')].every(m => m.querySelector('mjx-container'))",
                timeout=30_000)
            images = page.page.evaluate(
                "() => [...document.images].map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth, i.naturalHeight])")
            bad = [src for src, complete, w, h in images if not (complete and w > 0 and h > 0)]
            assert not bad, f"{name}: images that did not load: {bad}"
            math = page.page.evaluate("document.querySelectorAll('.math').length")
            leftover = page.page.evaluate(
                "() => [...document.querySelectorAll('.math')].filter(m => /\\\\\\(|\\\\\\[|\\$\\$/.test("
                "[...m.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(''))).length")
            assert leftover == 0, f"{name}: {leftover} math elements still show raw TeX"
            math_total += math
            assert not page.problems, f"{name}: {page.problems}"
            checked.append((name, len(images), math))
    assert len(checked) >= 2
    print(f"\n{len(checked)} pages, {sum(n for _, n, _ in checked)} images, {math_total} math elements")


def test_bundled_mathjax_typesets_offline(site, page):
    """The MathJax copied into the site renders TeX to SVG from file:// with no network."""
    mathjax = site / "_static" / "mathjax" / "tex-svg.js"
    assert mathjax.is_file()
    probe = site / "_mathjax_probe.html"
    probe.write_text("<!doctype html><html><body><p id='m'>\\(\\log D(x) + \\sum_{c=0}^{9} p_c\\)</p>"
                     "<script src='_static/mathjax/tex-svg.js'></script></body></html>")
    with screenshot_on_failure(page, "site_mathjax_probe"):
        page.page.goto(probe.as_uri(), wait_until="load")
        page.page.wait_for_selector("#m mjx-container svg", timeout=30_000)
        assert not page.problems, page.problems
    probe.unlink()


def test_solution_toggle_opens(site, page):
    pages = [p for p in site_pages(site) if p.parent.name == "notebooks" and "Show solution" in p.read_text()]
    assert pages, "no page has a collapsed solution (cells tagged 'solution')"
    for path in pages:
        with screenshot_on_failure(page, "solution_" + path.stem):
            page.page.goto(path.as_uri(), wait_until="load")
            details = page.page.locator("details.hide").first
            code = details.locator(".cell_input, pre").first
            assert details.evaluate("d => d.open") is False
            assert not code.is_visible()
            details.locator("summary").click()
            assert details.evaluate("d => d.open") is True
            code.wait_for(state="visible", timeout=5_000)
            assert code.inner_text().strip(), "the revealed solution is empty"
            assert not page.problems, page.problems


def test_solution_buttons_are_numbered(site, page):
    """Each "Show solution" button names its exercise (no page of identical buttons)."""
    pages = [p for p in site_pages(site) if p.parent.name == "notebooks" and "Show solution" in p.read_text()]
    assert pages
    for path in pages:
        page.page.goto(path.as_uri(), wait_until="load")
        labels = [t.strip() for t in page.page.locator("details.hide summary .collapsed").all_inner_texts()]
        assert labels and len(set(labels)) == len(labels), f"{path.name}: {labels}"
        assert all(re.fullmatch(r"Show (solution (to exercise \d+|\d+ of \d+)|worked update)", t) for t in labels), labels


def test_animation_buttons_show_their_icons(site, page):
    """matplotlib's animation buttons (to_jshtml) draw their icons with any fonts: each button
    holds an SVG icon of non-zero size with drawn (dark) pixels, and no character outside
    printable ASCII (media symbols such as U+23EE render as empty boxes in Debian chromium)."""
    pages = [p for p in site_pages(site) if "anim-buttons" in p.read_text()]
    assert pages, "no page holds an animation"
    for path in pages:
        with screenshot_on_failure(page, "anim_" + path.stem):
            page.page.goto(path.as_uri(), wait_until="load")
            buttons = page.page.locator(".anim-buttons button")
            n = buttons.count()
            assert n and n % 9 == 0, f"{path.name}: {n} animation buttons"
            for i in range(n):
                button = buttons.nth(i)
                button.scroll_into_view_if_needed()
                title, text = button.get_attribute("title"), button.text_content()
                assert re.fullmatch(r"[\x20-\x7e\s]*", text), f"{title}: {text!r}"
                icon = button.locator("svg")
                box = icon.bounding_box()
                assert box and box["width"] >= 8 and box["height"] >= 8, f"{title}: icon box {box}"
                grey = pixels(icon.screenshot())[..., :3].mean(axis=-1)
                assert grey.min() < 0.4 and grey.max() > 0.6, f"{title}: the icon drew nothing"
            assert not page.problems, page.problems


def test_links_between_notebooks_work(site, page):
    """The notebooks' `NN_name.ipynb` links became links to the built pages, and they open."""
    followed = 0
    for path in [p for p in site_pages(site) if p.parent.name == "notebooks"]:
        page.page.goto(path.as_uri(), wait_until="load")
        hrefs = page.page.eval_on_selector_all("article a[href]", "as => as.map(a => a.getAttribute('href'))")
        assert not [h for h in hrefs if ".ipynb" in h and "_sources" not in h], f"{path.name}: {hrefs}"
        for href in sorted({h.split("#")[0] for h in hrefs if re.match(r"^[0-9][0-9]_\w+\.html", h)}):
            assert (path.parent / href).is_file(), f"{path.name} links to {href}, which is not built"
            followed += 1
    assert followed > 0, "no notebook links to another one"


# -- 2. the demo page --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_url():
    """``python -m acgan_lib demo --port 0`` in a subprocess; its printed URL."""
    proc = subprocess.Popen([sys.executable, "-m", "acgan_lib", "demo", "--port", "0"], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        url = None
        lines = []
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url, "demo did not start:\n" + "".join(lines[-30:])
        yield url
    finally:
        stop(proc)


def test_demo_class_and_slider_change_the_digit(demo_url, page):
    p = page.page
    with screenshot_on_failure(page, "demo"):
        p.goto(demo_url, wait_until="load")
        p.wait_for_selector("body[data-ready='1']", timeout=60_000)
        digit = p.locator("#digit")
        before = digit.screenshot()
        assert p.locator("#variations img").count() == 8

        src = digit.get_attribute("src")
        p.locator("#classes button", has_text="3").click()
        p.wait_for_function("s => document.getElementById('digit').src !== s", arg=src, timeout=30_000)
        p.wait_for_function("() => document.getElementById('status').textContent.startsWith('class 3')")
        as_three = digit.screenshot()
        assert differs(before, as_three) > 0.01, "changing the class did not change the digit"

        slider = p.locator("#sliders input[type=range]").first
        src = digit.get_attribute("src")
        value = float(slider.input_value())
        box = slider.bounding_box()
        x = box["x"] + box["width"] * (0.03 if value > 0 else 0.97)   # jump to the far end
        p.mouse.click(x, box["y"] + box["height"] / 2)
        p.wait_for_function("s => document.getElementById('digit').src !== s", arg=src, timeout=30_000)
        assert abs(float(slider.input_value()) - value) > 0.5
        moved = digit.screenshot()
        assert differs(as_three, moved) > 0.01, "moving the strongest slider did not change the digit"
        assert not page.problems, page.problems


def test_demo_bad_request_is_answered_4xx(demo_url, page):
    p = page.page
    p.goto(demo_url, wait_until="load")
    answers = p.evaluate("""async () => {
        const post = async (body) => { const r = await fetch('/api/generate', {method: 'POST',
              headers: {'Content-Type': 'application/json'}, body}); return [r.status, (await r.json()).error]; };
        return [await post(JSON.stringify({label: 12, z: Array(100).fill(0)})),
                await post(JSON.stringify({label: 3, z: [0.5]})),
                await post('{not json'),
                await post(JSON.stringify({label: 3, z: Array(100).fill(0)}))];
    }""")
    (s12, e12), (slen, elen), (sjson, ejson), (sok, eok) = answers
    assert (s12, slen, sjson) == (400, 400, 400)
    assert "label must be in 0..9" in e12 and "z must have 100 numbers" in elen and "JSON" in ejson
    assert sok == 200 and eok is None, "the server stopped serving after bad requests"


# -- 3. notebook 07 in JupyterLab --------------------------------------------------------------
@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 (free port, random token) serving a copy of notebook 07."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is in the notebooks extra: pip install -e '.[notebooks]'")
    work = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)   # autosave must not touch the repo
    port, token = free_port(), secrets.token_hex(16)
    env = {**child_env(), "JUPYTER_RUNTIME_DIR": str(work / ".runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(work / ".settings")}
    env.pop("MPLBACKEND", None)   # Agg (set by .ci/run) would stop the kernel's inline figures
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--allow-root",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/api/status?token={token}", proc, SERVER_START_S)
        except Exception:
            log.flush()
            raise AssertionError("JupyterLab did not start:\n" + (work / "lab.log").read_text()[-3000:])
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}", work
    finally:
        stop(proc)
        log.close()


def accept_dialogs(p) -> None:
    """Accept any JupyterLab dialog in the way (e.g. "Select Kernel", which may pop up on open)."""
    dialog = p.locator(".jp-Dialog")
    while dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
        p.wait_for_timeout(300)


def wait_for_kernel(p, timeout: float = 120) -> None:
    """Until the notebook's kernel is started and idle (status bar "Python 3 (ipykernel) | Idle")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accept_dialogs(p)
        status = p.locator(".jp-Notebook-ExecutionIndicator, .jp-StatusBar-Widget").all_inner_texts()
        if any(re.search(r"\(ipykernel\)\s*\|\s*Idle", t) for t in status):
            p.wait_for_timeout(500)   # a dialog can still follow the first "Idle"
            accept_dialogs(p)
            return
        p.wait_for_timeout(500)
    raise TimeoutError("the notebook's kernel did not become idle")


def menu(p, top: str, item: str) -> None:
    """Click JupyterLab's menu bar entry ``top``, then its item labelled ``item``."""
    accept_dialogs(p)
    p.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    p.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def test_notebook_sliders_in_jupyterlab(jupyterlab, page):
    url, work = jupyterlab
    from playwright.sync_api import expect

    p = page.page
    p.set_default_timeout(60_000)
    with screenshot_on_failure(page, "jupyterlab_notebook07"):
        p.goto(url, wait_until="domcontentloaded")
        p.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        wait_for_kernel(p)
        # clear the committed outputs first, so what is checked below is this run's
        menu(p, "Edit", "Clear Outputs of All Cells")
        p.wait_for_function("() => document.querySelectorAll('.jp-CodeCell .jp-OutputArea-output').length === 0")
        menu(p, "Run", "Run All Cells")
        # run-all is done when the kernel is idle again and every code cell has its number
        p.wait_for_function("""() => {
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return ind && ind.dataset.status === 'idle' && prompts.length > 0 &&
                   prompts.every(e => /\\[\\d+\\]/.test(e.textContent));
        }""", timeout=NOTEBOOK_RUN_S * 1000)
        errors = p.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                           has_text="Traceback")
        assert errors.count() == 0, errors.first.inner_text()[:2000]

        slider = p.locator(".widget-slider, .widget-hslider").first
        slider.scroll_into_view_if_needed()
        slider.wait_for(state="visible", timeout=60_000)
        cell = p.locator(".jp-Cell").filter(has=p.locator(".widget-slider, .widget-hslider")).first
        image = cell.locator(".jp-OutputArea-output img, .widget-output img").first
        image.wait_for(state="visible", timeout=60_000)
        before_src = image.get_attribute("src")
        readout = slider.locator(".widget-readout")
        old_value = readout.inner_text()

        track = slider.locator(".noUi-target, .slider-container, .ui-slider").first
        handle = slider.locator(".noUi-handle, .ui-slider-handle").first
        for attempt in range(3):   # the notebook may still re-lay itself out and scroll: re-aim each try
            handle.scroll_into_view_if_needed()
            p.wait_for_timeout(500)
            hb, tb = handle.bounding_box(), track.bounding_box()
            start_x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
            end_x = tb["x"] + tb["width"] * (0.9 if start_x < tb["x"] + tb["width"] / 2 else 0.1)
            p.mouse.move(start_x, y)
            p.mouse.down()
            p.mouse.move(end_x, y, steps=8)
            p.mouse.up()
            try:
                expect(readout).not_to_have_text(old_value, timeout=5_000)   # the slider moved
                break
            except AssertionError:
                if attempt == 2:
                    raise
        # the output widget redraws (clears, then shows a new <img>): read the new image's own PNG
        after_src = p.wait_for_function(
            """([sel, old]) => { const c = [...document.querySelectorAll('.jp-Cell')].find(c => c.querySelector(sel));
                                 const i = c && c.querySelector('.jp-OutputArea-output img, .widget-output img');
                                 return i && i.src !== old && i.complete && i.naturalWidth > 0 && i.src; }""",
            arg=[".widget-slider, .widget-hslider", before_src], timeout=60_000).json_value()
        before, after = png_of(before_src), png_of(after_src)
        assert before.shape != after.shape or differs_pixels(before, after) > 0.001, \
            "moving the slider did not change the output image"
