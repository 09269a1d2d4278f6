"""Sphinx configuration of the course site (myst-nb). ``docs/build_site.py`` copies this file into
the staging folder build/site-src next to the staged README (index.md) and notebooks, then runs
sphinx-build; run ``make site`` rather than using it directly."""
import importlib.util
from pathlib import Path

project = "ACGAN in JAX"
author = "acgan_lib authors"
copyright = "the acgan_lib authors, Apache-2.0"

extensions = ["myst_nb"]

# The committed notebooks already hold the outputs of a full default run: never re-execute them.
nb_execution_mode = "off"
# Widget state is not embedded (it would load the widget manager from a CDN); build_site.py
# replaces the live-widget output with a note pointing at Jupyter and the demo page.
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "ACGAN in JAX"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None
# A fixed light theme: an empty stored mode makes the theme log a console error on first visit.
html_context = {"default_mode": "light"}
html_show_sourcelink = False

# MathJax from a PyPI package (sphinx-mathjax-offline ships MathJax 3), copied into _static, so
# math renders with no network. SVG output needs no web fonts (fonts from file:// can be blocked).
_MATHJAX_PKG = importlib.util.find_spec("sphinx-mathjax-offline")
if _MATHJAX_PKG is None or _MATHJAX_PKG.origin is None:
    raise RuntimeError("the site needs the 'sphinx-mathjax-offline' package: pip install -e '.[site]'")
html_static_path = [str(Path(_MATHJAX_PKG.origin).parent / "static")]
mathjax_path = "mathjax/tex-svg.js"
