"""Data parallelism over a device mesh (acgan_lib.parallel), on simulated CPU devices.

JAX fixes the number of CPU devices when it starts, so each check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import pairs

ROOT = Path(__file__).resolve().parents[1]

# Losses of the same 3 iterations on 1, 2 and 4 devices agree to this absolute tolerance: only the
# order of the cross-device sums (batch-norm statistics, gradients) differs. Measured: <= 5e-5.
TOLERANCE = 2e-4

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from acgan_lib import data, parallel, trainer
    ds = data.load_mnist("bundled", verbose=False)
    ds = type(ds)(ds.images[::12][:400], ds.labels[::12][:400], ds.source)  # every class
    out = sys.argv[1]
    cfg = lambda n: trainer.TrainConfig(devices=n, batch_size=20, log_every=1)
    losses = lambda rows: [[r[k] for k in trainer.LOSS_KEYS] for r in rows]
    res = {}
    for n in (1, 2, 4):
        tr = trainer.Trainer(cfg(n), ds, f"{out}/run{n}", log=lambda s: None)
        res[f"losses_{n}"] = losses(tr.train(max_steps=3, progress=False))
        res[f"sharded_{n}"] = tr.mesh is not None and tr.mesh.size == n
    # train 2 iterations on 4 devices, resume the third on 1 device
    a = trainer.Trainer(cfg(4), ds, f"{out}/resume", log=lambda s: None)
    a.train(max_steps=2, progress=False)
    b = trainer.Trainer(cfg(1), ds, f"{out}/resume", log=lambda s: None)
    b.restore()
    res["resumed_step"] = b.step
    res["resumed_losses"] = losses(b.train(max_steps=3, progress=False))
    for batch, n in ((30, 4), (24, 8)):
        try:
            trainer.Trainer(trainer.TrainConfig(devices=n, batch_size=batch), ds, f"{out}/bad", log=print)
        except ValueError as e:
            res[f"error_{batch}_{n}"] = str(e)
    print("RESULT " + json.dumps(res))
""")


@pytest.fixture(scope="module")
def mesh_results(tmp_path_factory):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path_factory.mktemp("mesh")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _max_diff(a, b):
    return max(abs(x - y) for ra, rb in pairs(a, b) for x, y in pairs(ra, rb))


def test_same_losses_on_1_2_4_devices(mesh_results):
    r = mesh_results
    assert r["sharded_2"] and r["sharded_4"] and not r["sharded_1"]
    assert len(r["losses_1"]) == 3
    for n in (2, 4):
        assert _max_diff(r["losses_1"], r[f"losses_{n}"]) < TOLERANCE, (n, r["losses_1"], r[f"losses_{n}"])


def test_resume_on_another_device_count(mesh_results):
    r = mesh_results
    assert r["resumed_step"] == 2
    assert _max_diff(r["resumed_losses"], r["losses_1"][2:]) < TOLERANCE


def test_batch_not_divisible_is_a_clear_error(mesh_results):
    assert "cannot be split evenly over 4 devices" in mesh_results["error_30_4"]
    assert "devices=8 asked for, but this machine has 4 cpu device(s)" in mesh_results["error_24_8"]


def test_config_checks():
    from acgan_lib import parallel, trainer

    with pytest.raises(ValueError, match="devices must be >= 0"):
        trainer.TrainConfig(devices=-1).validate()
    with pytest.raises(ValueError, match="multiple of 3"):
        parallel.check_divisible(100, 3)
    shard = parallel.batch_constraint(None)
    assert shard(5) == 5 and shard("batch") == "batch"     # the identity on one device


@pytest.mark.parametrize("backend, local, expected", [("cpu", 4, 1), ("gpu", 4, 4), ("tpu", 8, 8), ("gpu", 1, 1)])
def test_default_device_count(monkeypatch, backend, local, expected):
    """Every local accelerator, but one CPU "device" (simulated host devices share the same cores)."""
    from acgan_lib import parallel

    monkeypatch.setattr(parallel.jax, "default_backend", lambda: backend)
    monkeypatch.setattr(parallel.jax, "local_device_count", lambda *a, **k: local)
    assert parallel.default_device_count() == expected
