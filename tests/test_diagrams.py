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


# ----------------------------------------------------------------------------- flow diagrams (notebooks 1 and 5)
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from acgan_lib import training  # noqa: E402

FLOWS = ["draw_acgan_idea", "draw_discriminator_step", "draw_generator_step", "draw_cgan_vs_acgan"]


@pytest.fixture
def no_open_figures():
    """The test starts and must end with no pyplot figure open."""
    plt.close("all")
    yield
    left_open = plt.get_fignums()
    plt.close("all")
    assert left_open == [], "a figure was left open"


def _dims(*dims) -> str:
    return ", ".join(str(d) for d in dims)


def _texts(fig):
    """Every non-empty text of the figure: the axes' texts and titles, and the figure's own."""
    return [t for t in [*(t for ax in fig.axes for t in [*ax.texts, ax.title]), *fig.texts] if t.get_text()]


def _expected_shapes(name: str, batch: int, latent: int, classes: int, image: tuple[int, ...]) -> set[str]:
    image_b, image_2b = f"(B, {_dims(*image)})", f"(2B, {_dims(*image)})"
    return {"draw_acgan_idea": {f"(B, {latent})", "(B,)", image_b, image_2b, "(2B,)", f"(2B, {classes})",
                                f"B = {batch}"},
            "draw_discriminator_step": {f"(B, {latent})", "(B,)", image_b, image_2b, "(2B,)", f"(2B, {classes})",
                                        f"B = {batch}"},
            "draw_generator_step": {f"(2B, {latent})", "(2B,)", image_2b, f"(2B, {classes})", f"2B = {2 * batch}"},
            "draw_cgan_vs_acgan": {image_b, "(B,)", f"(B, {classes})"}}[name]


@pytest.mark.parametrize("name", FLOWS)
def test_flow_diagram_labels_the_library_shapes(name, no_open_figures):
    fig = getattr(diagrams, name)()
    assert plt.get_fignums() == [fig.number]                     # one figure, nothing else opened
    drawn = " | ".join(t.get_text() for t in _texts(fig))
    expected = _expected_shapes(name, training.BATCH_SIZE, models.LATENT_DIM, models.NUM_CLASSES, models.IMAGE_SHAPE)
    assert expected and not [s for s in expected if s not in drawn]
    plt.close(fig)


@pytest.mark.parametrize("name", FLOWS)
def test_flow_diagram_follows_the_sizes(name, no_open_figures):
    sizes = {"batch_size": 7, "num_classes": 4, "image_shape": (12, 12, 3)}
    if name != "draw_cgan_vs_acgan":
        sizes["latent_dim"] = 16
    fig = getattr(diagrams, name)(**sizes)
    drawn = [t.get_text() for t in _texts(fig)]
    expected = _expected_shapes(name, 7, 16, 4, (12, 12, 3))
    if name == "draw_cgan_vs_acgan":
        expected = {s for s in expected if "16" not in s}
    assert not [s for s in expected if not any(s in d for d in drawn)]
    assert not [d for d in drawn if f", {models.NUM_CLASSES})" in d or f"B, {models.LATENT_DIM})" in d]
    plt.close(fig)


def test_shape_label_reads_like_a_tuple():
    assert diagrams.shape_label("B") == "(B,)" and diagrams.shape_label("2B", 28, 1) == "(2B, 28, 1)"


@pytest.mark.parametrize("name", FLOWS)
def test_flow_diagram_text_is_legible(name, no_open_figures):
    """No two text labels overlap, each lies inside the figure, and a label in a box fits in it."""
    fig = getattr(diagrams, name)()
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    texts = _texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert len(texts) >= 8
    overlapping = [(texts[i].get_text(), texts[j].get_text()) for i in range(len(boxes))
                   for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
    assert not overlapping
    page = fig.bbox
    assert not [t.get_text() for t, b in zip(texts, boxes, strict=True)
                if not (page.x0 <= b.x0 and b.x1 <= page.x1 and page.y0 <= b.y0 and b.y1 <= page.y1)]
    patches = [p.get_window_extent(renderer) for ax in fig.axes for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert patches
    spilling = []
    for text, box in zip(texts, boxes, strict=True):
        centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        holder = [p for p in patches if p.contains(*centre)]
        if holder and not (holder[0].x0 < box.x0 and box.x1 < holder[0].x1
                           and holder[0].y0 < box.y0 and box.y1 < holder[0].y1):
            spilling.append(text.get_text())
    assert not spilling
    plt.close(fig)


@pytest.mark.parametrize("name, trained, frozen_net", [("draw_generator_step", "G", "D"),
                                                      ("draw_discriminator_step", "D", "G")])
def test_training_step_marks_the_frozen_network_and_updates_the_other_only(name, trained, frozen_net, no_open_figures):
    fig = getattr(diagrams, name)()
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    ax = fig.axes[0]
    by_gid = {p.get_gid(): p for p in ax.patches if p.get_gid()}
    frozen = by_gid["frozen"]
    assert frozen.get_hatch() == diagrams.FROZEN_HATCH
    r, g, b, _ = frozen.get_facecolor()
    assert r == g == b < 1                                      # grey, unlike the coloured trained network
    assert len(set(by_gid[trained].get_facecolor()[:3])) > 1 and not by_gid[trained].get_hatch()
    frozen_box = frozen.get_window_extent(renderer)
    inside = [t.get_text() for t in ax.texts
              if frozen_box.contains(*t.get_window_extent(renderer).get_points().mean(0))]
    assert "frozen" in inside and frozen_net in inside
    # the red update arrow starts at the "update ... only" box and ends on the trained network, nowhere else
    path = by_gid[f"update-{trained}"].get_path().transformed(ax.transData)   # arrow outline, in pixels
    g_box, update_box = by_gid[trained].get_window_extent(renderer), by_gid["update"].get_window_extent(renderer)
    tip = path.vertices[np.argmax(path.vertices[:, 1])]
    assert g_box.x0 <= tip[0] <= g_box.x1 and abs(tip[1] - g_box.y0) < 5
    assert any(update_box.contains(*v) for v in path.vertices)
    assert any(t.get_text() == f"update {trained} only" for t in ax.texts)
    assert not frozen_box.overlaps(by_gid[f"update-{trained}"].get_window_extent(renderer))
    plt.close(fig)


def test_acgan_idea_draws_both_players_and_both_losses(no_open_figures):
    fig = diagrams.draw_acgan_idea()
    drawn = {t.get_text() for t in fig.axes[0].texts}
    assert {"G", "D", "binary cross-entropy", "sparse categorical CE", "real image", "fake image"} <= drawn
    assert f"target: the digit 0…{models.NUM_CLASSES - 1}" in drawn
    plt.close(fig)


def test_cgan_vs_acgan_has_two_panels(no_open_figures):
    fig = diagrams.draw_cgan_vs_acgan()
    left, right = ({t.get_text() for t in ax.texts} for ax in fig.axes)
    assert "label" in left and "realness of the pair" in left and "class logits" not in left
    assert "class logits" in right and "label" not in right
    assert any(t.startswith("conditional GAN") for t in left) and any(t.startswith("ACGAN") for t in right)
    plt.close(fig)
