"""Data parallelism over a 1-D device mesh: each global batch is split across devices.

The training iteration stays ONE jitted function of the whole training state (see
:mod:`acgan_lib.trainer`); this module only says where arrays live:

* parameters, optimizer states and batch-norm statistics are **replicated** on every device;
* every batch-shaped array (real digits, latent vectors, sampled labels, generated digits) is
  **split along its first axis** over the mesh axis ``"data"``.

Why ``jit`` with shardings rather than ``shard_map``: ``jit``'s meaning does not depend on how
its inputs are laid out, so the program is *the single-device recipe* — batch-norm statistics are
taken over the global batch, the dropout masks and latent draws are the same numbers whatever the
device count — and XLA inserts the cross-device reductions (the batch-norm means, the gradient
sum) itself. Results differ from one device only by float rounding (the order of those sums).
``shard_map`` would make every device see only its slice, so batch-norm over the global batch
would need hand-written ``psum``s and the randomness would have to be split by hand.

Several hosts: call ``jax.distributed.initialize()`` (coordinator address, process count and
id, or the cluster's environment) before anything else touches JAX; ``jax.devices()`` then lists
every host's devices and the same code path builds a mesh over all of them. Each host must load
the same data set (the gather happens inside the jitted iteration), which this library does from
the bundled or cached files.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def default_device_count() -> int:
    """All local devices of the default backend, but 1 on CPU (host "devices" share the same cores)."""
    return 1 if jax.default_backend() == "cpu" else jax.local_device_count()


def make_mesh(num_devices: int) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over the first ``num_devices`` devices.

    Raises ValueError naming what is available when there are fewer devices than asked for.
    """
    available = jax.devices()
    if isinstance(num_devices, bool) or not isinstance(num_devices, (int, np.integer)) or num_devices < 1:
        raise ValueError(f"devices must be an integer >= 1, got {num_devices!r}")
    if num_devices > len(available):
        hint = (" (on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N before starting Python "
                "simulates N devices)" if jax.default_backend() == "cpu" else "")
        raise ValueError(f"devices={num_devices} asked for, but this machine has {len(available)} "
                         f"{jax.default_backend()} device(s){hint}")
    return Mesh(np.array(available[:num_devices]), (DATA_AXIS,))


def check_divisible(batch_size: int, num_devices: int) -> None:
    """The global batch must split evenly: each device gets ``batch_size / num_devices`` digits."""
    if batch_size % num_devices:
        raise ValueError(f"batch_size {batch_size} cannot be split evenly over {num_devices} devices; "
                         f"choose a batch size that is a multiple of {num_devices}")


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, the data set)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
    """Split the first (batch) axis over ``"data"``; the other ``ndim - 1`` axes whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS, *([None] * (ndim - 1))))


def batch_constraint(mesh: Mesh | None):
    """A function ``x -> x`` for use inside ``jit`` that asks XLA to split ``x``'s batch axis.

    With ``mesh=None`` (one device) it is the identity, so the same traced code serves both.
    """
    if mesh is None or mesh.size == 1:
        return lambda x: x
    return lambda x: jax.lax.with_sharding_constraint(x, batch_sharding(mesh, x.ndim))
