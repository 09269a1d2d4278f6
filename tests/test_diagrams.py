"""The drawn figures of notebook 3: they build, and the shapes they label are the models' own."""
import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from flax import nnx  # noqa: E402

from acgan_lib import diagrams, models  # noqa: E402


@pytest.fixture(scope="module")
def nets():
    return models.Generator(rngs=nnx.Rngs(0)), models.Discriminator(rngs=nnx.Rngs(1))


def test_network_diagram_labels_the_traced_shapes(nets):
    gen, disc = nets
    fig, shapes = diagrams.draw_networks(gen, disc)
    z, labels = models.sample_latent(jax.random.key(0), 2), jnp.array([3, 7])
    g_traced = [tuple(a.shape[1:]) for _, a in gen.layers(z, labels, train=False)]
    images = gen(z, labels, train=False)
    d_traced = [tuple(a.shape[1:]) for _, a in disc.features(images, train=False)]
    realness, classes = disc(images, train=False)
    # the chain from the label, with z listed right after the product it feeds
    assert shapes["generator"] == [str((1,))] + [str(s) for s in g_traced[:2]] + [str((gen.latent_dim,))] + \
        [str(s) for s in g_traced[2:]]
    assert shapes["discriminator"] == ([str(tuple(images.shape[1:]))] + [str(s) for s in d_traced]
                                       + [str((1,)), str(tuple(classes.shape[1:]))])
    assert g_traced[-1] == (28, 28, 1) and realness.shape == (2,)
    drawn = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert set(shapes["generator"]) | set(shapes["discriminator"]) <= drawn
    plt.close(fig)


def test_network_diagram_follows_the_model(nets):
    _, disc = nets
    small = models.Generator(latent_dim=16, num_classes=4, rngs=nnx.Rngs(0))
    fig, shapes = diagrams.draw_networks(small, models.Discriminator(num_classes=4, rngs=nnx.Rngs(1)))
    assert shapes["generator"][1:4] == ["(16,)", "(16,)", "(16,)"] and shapes["discriminator"][-1] == "(4,)"
    plt.close(fig)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_overlap_add_is_a_transposed_convolution(stride):
    x, w = np.array([1.0, 2.0, -1.0, 0.5]), np.array([0.5, 1.0, 0.25])
    rows, out = diagrams.overlap_add_1d(x, w, stride)
    up = np.zeros(stride * (len(x) - 1) + 1)
    up[::stride] = x                                   # zeros inserted between the input pixels
    np.testing.assert_allclose(out, np.convolve(up, w))  # = a full convolution of the dilated input
    assert rows.shape == (len(x), len(out))


def test_overlap_add_figure_builds():
    fig, out = diagrams.draw_overlap_add()
    assert out.tolist() == [0.5, 1.0, 1.5, 2.0, 0.5, -1.0, -0.5]
    assert any("sum" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
