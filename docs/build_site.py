"""Build the static course site from the committed, executed notebooks (no re-execution).

    python docs/build_site.py [--out build/site]      # what `make site` runs

Stages README.md (as the landing page, with the table of contents appended) and every
``notebooks/[0-9][0-9]_*.ipynb`` into ``build/site-src``, adjusted for the web:

* cells tagged ``solution`` get myst-nb's ``hide-input`` tag: the answer is collapsed behind a
  numbered "Show solution to exercise N" click (N from the cell's ``# Solution N`` comment, else
  "Show solution k of n"); their outputs are stripped by run_all.py, so the source is what hides,
  and a cell that would print or draw gets a note in place of its output (run it to see it);
* matplotlib animations (``to_jshtml``) lose their Font Awesome stylesheet (a CDN) and get inline
  SVG icons on their buttons, which need no font (Unicode media symbols such as U+23EE are
  missing from Debian chromium's default fonts and showed as empty boxes);
* a live ipywidgets output (it needs a kernel) becomes a note pointing at Jupyter and the demo;
* README's backquoted notebook names (`` `03_architecture` ``) become links to their pages.

then runs Sphinx with myst-nb (``docs/conf.py``) into ``--out``. Open ``build/site/index.html``;
it works offline (MathJax is bundled, nothing loads from the network).
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
SOLUTION_TAG = "solution"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("*Interactive controls appear here when the notebook runs in Jupyter "
               "(`jupyter lab notebooks/{name}`). Without a kernel, try the demo page: "
               "`python -m acgan_lib demo`.*")


def notebooks(root: Path = ROOT) -> list[Path]:
    """The series in order: every notebooks/NN_name.ipynb (new ones appear automatically)."""
    return sorted((root / "notebooks").glob(NOTEBOOK_GLOB))


# matplotlib's animation HTML (to_jshtml) loads Font Awesome from a CDN for its buttons' icons;
# offline pages get the same buttons with inline SVG icons (16 x 16, drawn in the text colour).
# Not Unicode symbols: the media-control ones (U+23EE, U+23EA, U+23F8, U+23E9, U+23ED) are absent
# from the default fonts of Debian's chromium and render as empty boxes.
_CDN_LINK = re.compile(r'<link[^>]*href="https?://[^"]*font-awesome[^"]*"[^>]*>', re.S)
_BAR = '<rect x="{x}" y="3" width="2" height="10"/>'
_TRI_LEFT = '<path d="M{r} 3V13L{l} 8Z"/>'      # a triangle pointing left, from x=r to x=l
_TRI_RIGHT = '<path d="M{l} 3V13L{r} 8Z"/>'     # a triangle pointing right
_ICON_SHAPES = {
    "fa-fast-backward": _BAR.format(x=1) + _TRI_LEFT.format(r=8, l=3) + _TRI_LEFT.format(r=14, l=9),
    "fa-step-backward": _BAR.format(x=3) + _TRI_LEFT.format(r=13, l=5),
    "fa-play fa-flip-horizontal": _TRI_LEFT.format(r=12, l=4),
    "fa-pause": '<rect x="4" y="3" width="3" height="10"/><rect x="9" y="3" width="3" height="10"/>',
    "fa-play": _TRI_RIGHT.format(l=4, r=12),
    "fa-step-forward": _TRI_RIGHT.format(l=3, r=11) + _BAR.format(x=11),
    "fa-fast-forward": _TRI_RIGHT.format(l=2, r=7) + _TRI_RIGHT.format(l=8, r=13) + _BAR.format(x=13),
    "fa-minus": '<rect x="3" y="7" width="10" height="2"/>',
    "fa-plus": '<rect x="3" y="7" width="10" height="2"/><rect x="7" y="3" width="2" height="10"/>',
}
_FA_ICONS = {cls: ('<svg class="anim-icon" viewBox="0 0 16 16" width="16" height="16" fill="currentColor" '
                   f'aria-hidden="true" focusable="false">{shape}</svg>')
             for cls, shape in _ICON_SHAPES.items()}


def offline_html(html: str) -> str:
    """HTML output without CDN stylesheets; Font Awesome icons become inline SVG icons."""
    html = _CDN_LINK.sub("", html)
    for cls, icon in _FA_ICONS.items():
        html = re.sub(rf'<i class="fa {re.escape(cls)}"\s*>\s*</i>', icon, html)
    return html


_SOLUTION_NUMBER = re.compile(r"^#\s*Solution\s+(\w+)\b")   # an exercise's number, or "update"
# An HTML anchor a notebook links to (``[...](01_...ipynb#reference-values)``): Jupyter renders it,
# Sphinx ignores raw HTML, so the site gets the same name as a MyST target.
_HTML_ANCHOR = re.compile(r'^<a id="([A-Za-z][\w-]*)"></a>[ \t]*$', re.M)
_SHOWS_SOMETHING = re.compile(r"\bprint\(|\.show\(|\bdisplay\(|\bcheck_\w+\(")
SOLUTION_OUTPUT_NOTE = ("*This solution's output is not stored on the site (it would give the answer away): "
                        "run the cell in Jupyter to see it.*")


def solution_labels(cells: list[dict]) -> list[tuple[str, str]]:
    """("Show ...", "Hide ...") button labels for the solution cells of a notebook, in order:
    "solution to exercise N" where the cell starts with ``# Solution N``, "worked update" where it
    starts with ``# Solution update``, else "solution k of n"."""
    sources = ["".join(c.get("source", "")) for c in cells]
    labels = []
    for k, src in enumerate(sources, 1):
        m = _SOLUTION_NUMBER.match(src.lstrip())
        if m and m.group(1).isdigit():
            what = f"solution to exercise {m.group(1)}"
        elif m:
            what = f"worked {m.group(1)}"        # "# Solution update": the hands-on update of the notebook
        else:
            what = f"solution {k} of {len(sources)}"
        labels.append((f"Show {what}", f"Hide {what}"))
    return labels


def stage_notebook(nb: dict, name: str) -> dict:
    """A copy of notebook ``nb`` ready for the site (solutions collapsed, widgets replaced)."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    solutions = [c for c in nb["cells"]
                 if c["cell_type"] == "code" and SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]
    for cell, (show, hide) in zip(solutions, solution_labels(solutions), strict=True):
        meta = cell["metadata"]
        meta["tags"] = meta["tags"] + ["hide-input"]
        meta.setdefault("mystnb", {}).update(code_prompt_show=show, code_prompt_hide=hide)
        if not cell.get("outputs") and _SHOWS_SOMETHING.search("".join(cell.get("source", ""))):
            cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                "data": {"text/markdown": SOLUTION_OUTPUT_NOTE}}]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _HTML_ANCHOR.sub(r"(\1)=", text)
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if html is not None:
                text = "".join(html) if isinstance(html, list) else html
                out["data"]["text/html"] = offline_html(text)
            if WIDGET_MIME in out.get("data", {}):
                out["data"] = {"text/markdown": WIDGET_NOTE.format(name=name)}
    return nb


def stage_readme(text: str, names: list[str]) -> str:
    """README.md as the landing page: notebook names become links, a table of contents follows."""
    for stem in names:
        text = re.sub(rf"`{re.escape(stem)}(\.ipynb)?`", f"[`{stem}`](notebooks/{stem}.ipynb)", text)
    # links to repository files that are not pages of the site (CONTRIBUTING.md, LICENSE, ...)
    # become plain text naming the file; images are copied by :func:`stage`
    text = re.sub(r"(?<!!)\[([^\]]+)\]\((?!https?:|#|notebooks/)([^)\s]+)\)",
                  lambda m: m.group(1) if m.group(1).strip("`") == m.group(2) else f"{m.group(1)} (`{m.group(2)}`)",
                  text)
    toc = "\n".join(f"notebooks/{stem}" for stem in names)
    return (text.rstrip() + "\n\n## Contents\n\n```{toctree}\n:maxdepth: 1\n:caption: The notebooks\n\n"
            + toc + "\n```\n")


def stage(src: Path) -> list[str]:
    """Write the staging folder ``src``; returns the notebook names in order."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "conf.py", src / "conf.py")
    names = []
    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        (src / "notebooks" / path.name).write_text(json.dumps(stage_notebook(nb, path.name), indent=1),
                                                   encoding="utf-8")
        names.append(path.stem)
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", (ROOT / "README.md").read_text(encoding="utf-8")):
        if not image.startswith(("http:", "https:")):      # the README's own pictures (docs/samples.png)
            (src / image).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / image, src / image)
    (src / "index.md").write_text(stage_readme((ROOT / "README.md").read_text(encoding="utf-8"), names),
                                  encoding="utf-8")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "build" / "site"), help="HTML output folder")
    p.add_argument("--src", default=str(ROOT / "build" / "site-src"), help="staging folder")
    args = p.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    names = stage(src)
    if out.exists():
        shutil.rmtree(out)
    # -W: a broken cross-reference (say, a link to a renamed notebook) fails the build.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
           "-d", str(src / ".doctrees"), str(src), str(out)]
    rc = subprocess.call(cmd)
    if rc == 0:
        print(f"site: {len(names) + 1} pages ({len(names)} notebooks + index) -> {out / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
