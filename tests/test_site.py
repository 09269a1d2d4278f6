"""The course site's staging step (docs/build_site.py), without Sphinx or a browser: what the
staged notebooks hold. The built pages are checked in a real browser by tests/test_browser.py."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import build_site  # noqa: E402

NOTEBOOKS = build_site.notebooks()
# What a button may contain besides markup: printable ASCII (every font has it).
SAFE_TEXT = re.compile(r"[\x20-\x7e\s]*")


def staged(path: Path) -> dict:
    return build_site.stage_notebook(json.loads(path.read_text(encoding="utf-8")), path.name)


def outputs_html(nb: dict) -> list[str]:
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            if html is not None:
                out.append("".join(html) if isinstance(html, list) else html)
    return out


def button_texts(html: str) -> list[str]:
    """The text of each <button> once its tags (icons included) are removed."""
    return [re.sub(r"<[^>]*>", "", b) for b in re.findall(r"<button[^>]*>(.*?)</button>", html, re.S)]


def test_animation_buttons_get_svg_icons_and_no_unsafe_characters():
    fa = "".join(f'<button title="{c}"><i class="fa {c}"></i></button>' for c in build_site._FA_ICONS)
    html = build_site.offline_html(
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">'
        + fa)
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert html.count("<svg") == len(build_site._FA_ICONS) == 9
    texts = button_texts(html)
    assert len(texts) == 9 and all(SAFE_TEXT.fullmatch(t) and not t.strip() for t in texts), texts


def test_committed_animations_become_offline_with_safe_buttons():
    animated = [p for p in NOTEBOOKS if "anim-buttons" in p.read_text(encoding="utf-8")]
    assert animated, "no notebook holds a matplotlib animation (to_jshtml)"
    for path in animated:
        html = "".join(outputs_html(staged(path)))
        assert "font-awesome" not in html, f"{path.name}: the CDN stylesheet is left"
        assert 'class="fa ' not in html, f"{path.name}: a Font Awesome icon is left"
        texts = button_texts(html)
        assert texts and all(SAFE_TEXT.fullmatch(t) for t in texts), f"{path.name}: {texts}"
        assert html.count('class="anim-icon"') == len(texts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_solution_buttons_are_numbered_and_distinct(path):
    nb = staged(path)
    cells = [c for c in nb["cells"] if build_site.SOLUTION_TAG in c["metadata"].get("tags", [])]
    labels = [c["metadata"]["mystnb"]["code_prompt_show"] for c in cells]
    assert len(set(labels)) == len(labels), labels
    for cell, label in zip(cells, labels, strict=True):
        assert "hide-input" in cell["metadata"]["tags"]
        assert re.fullmatch(r"Show (solution (to exercise \d+|\d+ of \d+)|worked update)", label), label
        first = "".join(cell["source"]).lstrip().splitlines()[0]
        m = re.match(r"#\s*Solution\s+(\d+)", first)
        if m:
            assert label == f"Show solution to exercise {m.group(1)}"


def test_solution_labels_fall_back_to_k_of_n():
    cells = [{"source": "# Solution 2: x\nprint(1)"}, {"source": "x = 1"}, {"source": ["# Solution", " 7\n"]}]
    assert [s for s, _ in build_site.solution_labels(cells)] == [
        "Show solution to exercise 2", "Show solution 2 of 3", "Show solution to exercise 7"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stripped_solutions_say_how_to_see_their_output(path):
    """A solution whose output was stripped ("printed below" with nothing below) gets a note."""
    original = json.loads(path.read_text(encoding="utf-8"))
    nb = build_site.stage_notebook(original, path.name)
    pairs = [(a, b) for a, b in zip(original["cells"], nb["cells"], strict=True)
             if build_site.SOLUTION_TAG in a.get("metadata", {}).get("tags", [])]
    for before, after in pairs:
        if before.get("outputs"):
            assert after["outputs"] == before["outputs"]
        elif build_site._SHOWS_SOMETHING.search("".join(before["source"])):
            assert [o["data"]["text/markdown"] for o in after["outputs"]] == [build_site.SOLUTION_OUTPUT_NOTE]
    assert pairs or "solution" not in path.read_text(encoding="utf-8")
    assert original == json.loads(path.read_text(encoding="utf-8")), "staging changed the notebook it was given"


def test_html_anchors_become_myst_targets_and_named_solutions_get_a_label():
    """A notebook's <a id="..."></a> (what Jupyter links to) is a MyST target on the site, so a link
    like 01_...ipynb#reference-values resolves under sphinx -W; "# Solution update" is "worked update"."""
    nb = {"metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": '<a id="reference-values"></a>\n\n## 4. Values'},
        {"cell_type": "code", "metadata": {"tags": [build_site.SOLUTION_TAG]}, "outputs": [],
         "source": "# Solution update: the step by hand\nx = 1"}]}
    staged = build_site.stage_notebook(nb, "01_x.ipynb")
    assert staged["cells"][0]["source"].startswith("(reference-values)=\n")
    assert staged["cells"][1]["metadata"]["mystnb"]["code_prompt_show"] == "Show worked update"


def test_every_link_to_an_anchor_has_its_target():
    """Each [..](NN_name.ipynb#anchor) in a notebook names an <a id="anchor"> of that notebook."""
    def markdown(path: Path) -> str:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")

    texts = {p.name: markdown(p) for p in NOTEBOOKS}
    anchors = {name: set(re.findall(r'<a id="([\w-]+)"></a>', text)) for name, text in texts.items()}
    links = [(name, target, anchor) for name, text in texts.items()
             for target, anchor in re.findall(r"\]\((\d\d_\w+\.ipynb)#([\w-]+)\)", text)]
    assert links, "the notebooks link to notebook 1's reference values"
    for source, target, anchor in links:
        assert anchor in anchors[target], f"{source} links to {target}#{anchor}, which has no such anchor"
