import os

os.environ.setdefault("MPLBACKEND", "Agg")

import contextlib  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402
from jax._src import monitoring  # noqa: E402
from flax import nnx  # noqa: E402

from acgan_lib import models, training  # noqa: E402


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
