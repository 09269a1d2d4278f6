"""Build the static course site from the committed, executed notebooks (no re-execution).

    python docs/build_site.py [--out build/site]      # what `make site` runs

Stages README.md (as the landing page, with the table of contents appended) and every
``notebooks/[0-9][0-9]_*.ipynb`` into ``build/site-src``, adjusted for the web:

* cells tagged ``solution`` get myst-nb's ``hide-input`` tag: the answer is collapsed behind a
  "Show solution" click (their outputs are stripped by run_all.py, so the source is what hides);
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
# offline pages get the same buttons with Unicode symbols instead.
_CDN_LINK = re.compile(r'<link[^>]*href="https?://[^"]*font-awesome[^"]*"[^>]*>', re.S)
_FA_ICONS = {"fa-fast-backward": "⏮", "fa-step-backward": "⏪", "fa-play fa-flip-horizontal": "◀",
             "fa-pause": "⏸", "fa-play": "▶", "fa-step-forward": "⏩", "fa-fast-forward": "⏭",
             "fa-minus": "−", "fa-plus": "+"}


def offline_html(html: str) -> str:
    """HTML output without CDN stylesheets; Font Awesome icons become Unicode symbols."""
    html = _CDN_LINK.sub("", html)
    for cls, symbol in _FA_ICONS.items():       # longest class lists first (dict order above)
        html = re.sub(rf'<i class="fa {re.escape(cls)}"\s*>\s*</i>', symbol, html)
    return html


def stage_notebook(nb: dict, name: str) -> dict:
    """A copy of notebook ``nb`` ready for the site (solutions collapsed, widgets replaced)."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        meta = cell.setdefault("metadata", {})
        tags = meta.get("tags", [])
        if cell["cell_type"] == "code" and SOLUTION_TAG in tags:
            meta["tags"] = tags + ["hide-input"]
            meta.setdefault("mystnb", {}).update(code_prompt_show="Show solution",
                                                 code_prompt_hide="Hide solution")
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
