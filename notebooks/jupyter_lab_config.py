"""JupyterLab settings for `make lab` and `make lab-instructor` (passed as `--config=notebooks/jupyter_lab_config.py`).

When JupyterLab starts a kernel it records that kernel's details in the notebook (its display name
and the exact Python version, e.g. 3.11.9 where the committed notebooks say 3.11.7), so merely
opening a notebook would rewrite the committed .ipynb on autosave and the next `git pull` would
refuse. The hook below keeps the kernel details a notebook already has on disk when the kernel is
the same one (same kernel name, same language and Python major.minor version), so opening, running
and saving a notebook changes only what you changed (tests/test_jupytext_roundtrip.py).
Everything else (jupytext pairing with the .py twins) comes from notebooks/jupytext.toml.
"""
import json


def keep_kernel_details(model, path, contents_manager, **kwargs):
    """pre_save_hook: keep the on-disk ``kernelspec`` / ``language_info`` when only machine details differ."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        with open(contents_manager._get_os_path(path), encoding="utf-8") as f:
            on_disk = json.load(f).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return   # a new notebook, or not a file on this disk: nothing to keep
    meta = model["content"].setdefault("metadata", {})
    old_kernel, new_kernel = on_disk.get("kernelspec") or {}, meta.get("kernelspec") or {}
    if old_kernel and old_kernel.get("name") == new_kernel.get("name"):
        meta["kernelspec"] = old_kernel
    old_lang, new_lang = on_disk.get("language_info") or {}, meta.get("language_info") or {}

    def major_minor(info):
        return str(info.get("version", "")).split(".")[:2]

    if old_lang and old_lang.get("name") == new_lang.get("name") and major_minor(old_lang) == major_minor(new_lang):
        meta["language_info"] = old_lang


c = get_config()  # noqa: F821  (defined by Jupyter when it loads this file)
c.ContentsManager.pre_save_hook = keep_kernel_details
