import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
# One on-disk compile cache for every process the suite starts (the CLI and the notebooks switch
# the cache on, acgan_lib.compile_cache): a program compiled by one subprocess test is loaded by
# the next instead of compiled again.  Under build/ (ignored by git); delete it at any time.
os.environ.setdefault("ACGAN_JAX_CACHE", str(Path(__file__).resolve().parents[1] / "build" / "jax-cache-tests"))

# Tests that train networks (in this process or a subprocess) are marked ``slow``: `make test`
# runs them, `make test-fast` skips them.  Recognised by the fixtures that train or hold training
# data, so a new test of that kind is marked without anyone remembering to.
SLOW_FIXTURES = {"small", "small_dir", "trained", "mesh_results"}
SLOW_TESTS = {"test_readme_cli_examples_run_from_a_clean_clone"}

import contextlib  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402
from jax._src import monitoring  # noqa: E402
from flax import nnx  # noqa: E402

from acgan_lib import models, training  # noqa: E402


# `make test` runs two or more pytest workers (pytest-xdist, --dist loadscope --no-loadscope-reorder):
# each file goes whole to one worker, in collection order. The longest files go first (their
# measured minutes: `make test`'s --durations), so no worker is left alone with a long one at the
# end. Only the order changes: every test still runs, in its file's own order.
LONG_FILES_FIRST = ["test_cli.py", "08_scaling_out.ipynb", "test_parallel.py", "test_fresh_jupyter.py",
                    "test_readme.py", "06_the_training_loop.ipynb", "05_training_the_generator.ipynb",
                    "04_training_the_discriminator.ipynb", "test_trainer.py", "test_step_checks.py",
                    "test_compile_cache.py", "test_browser.py", "test_training.py", "02_a_2d_toy_acgan.ipynb"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or getattr(item, "originalname", None) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))      # stable: a file's own order is kept


@pytest.fixture
def nets():
    """A fresh generator, discriminator and their optimizers (seeded)."""
    gen = models.Generator(rngs=nnx.Rngs(0))
    disc = models.Discriminator(rngs=nnx.Rngs(1))
    return gen, disc, training.make_optimizer(gen), training.make_optimizer(disc)


@pytest.fixture(scope="session")
def bundled():
    from acgan_lib import data
    return data.load_mnist("bundled", verbose=False)


def leaves(module, kind=nnx.Variable):
    """Every array of ``module``'s ``kind`` variables as numpy (PRNG keys as their raw data)."""
    import numpy as np

    out = []
    for x in jax.tree.leaves(nnx.state(module, kind)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x))
    return out


@contextlib.contextmanager
def count_compilations():
    """Count the programs jax traces and lowers inside the block (each jit cache miss lowers one).

    Yields a list whose single element is the count so far; counts, never times, so a loaded
    machine cannot make it flaky.
    """
    count = [0]

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
            count[0] += 1

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        monitoring.unregister_event_duration_listener(listener)


def pairs(*sequences):
    """``zip(*sequences, strict=True)`` over non-empty sequences of one length.

    For comparisons such as ``all(np.array_equal(a, b) for a, b in pairs(x, y))``, which an empty
    or shortened list would pass without comparing anything.
    """
    sequences = [list(s) for s in sequences]
    assert sequences[0], "nothing to compare"
    assert len({len(s) for s in sequences}) == 1, f"lengths differ: {[len(s) for s in sequences]}"
    return zip(*sequences, strict=True)


def clean_clone(root: Path, dest: Path) -> Path:
    """A clone of ``root``'s current tree (tracked files, uncommitted edits included) at ``dest``, as a
    fresh clone has it: what the README's commands and `make lab` meet on a learner's machine."""
    import subprocess

    snapshot = subprocess.run(["git", "stash", "create"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip() or "HEAD"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(root), str(dest)], check=True)
    subprocess.run(["git", "checkout", "--quiet", snapshot], cwd=dest, check=True)
    return dest
