"""A small local web page to play with a trained generator, like the tfjs ``mnist-acgan`` demo.

    python -m acgan_lib demo [--port 8000] [--host 127.0.0.1] [--checkpoint pretrained]

Pick a class, move the sliders of the latent coordinates that matter most for that class (or
press "random z"), and the digit and a row of nearby variations update. The server is the
standard library's ``http.server`` (no new dependency, nothing but this process to start); the
page is one static HTML/JS file that talks to a JSON endpoint:

* ``GET  /``                          the page
* ``GET  /api/info``                  ``{"latent_dim", "num_classes", "sliders", "variations"}``
* ``GET  /api/influence?label=C``     latent coordinates ranked by their measured effect on class C
* ``POST /api/generate``              body ``{"label": C, "z": [latent_dim numbers in [-1, 1]]}``
  -> ``{"image": PNG data URL, "variations": [PNG data URLs], "ms": server time}``

Bad requests (unknown class, wrong z length, non-numbers, bad JSON, unknown paths) get a 4xx
with a JSON ``{"error": message}``, and the server keeps serving.

Why rank coordinates: the generator multiplies z by a learned per-class embedding
(``h = z * embedding[label]``), so for a given class most coordinates are scaled down and barely
change the image. :meth:`DemoModel.influence` measures each coordinate's effect (mean absolute
pixel change when it moves from -1 to +1, averaged over a few random z) and the page puts the
sliders on the strongest ones.
"""
from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
NUM_SLIDERS = 8            # sliders shown: the most influential coordinates for the class
NUM_VARIATIONS = 8         # the row of "nearby z" variations under the main digit
VARIATION_SCALE = 0.35     # variation k uses clip(z + VARIATION_SCALE * noise_k, -1, 1)
INFLUENCE_BASES = 2        # random z's the influence of each coordinate is averaged over
MAX_BODY_BYTES = 64 * 1024
Z_LIMIT = 1.0              # the generator was trained on z ~ U[-1, 1]


class BadRequest(ValueError):
    """A client error: answered with ``status`` and the message."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = int(status)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 grey image (H, W) as PNG (8-bit greyscale, no filtering), stdlib only."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output (N, 28, 28, 1) in [-1, 1] -> uint8 (N, 28, 28)."""
    return np.clip(np.rint((np.asarray(images)[..., 0] + 1.0) * 127.5), 0, 255).astype(np.uint8)


class DemoModel:
    """A generator wrapped for the page: fixed-size jitted batches, influence ranking, validation."""

    def __init__(self, gen, seed: int = 0):
        import jax
        from flax import nnx

        self.latent_dim = int(gen.latent_dim)
        self.num_classes = int(gen.num_classes)
        graphdef, state = nnx.split(gen)

        @jax.jit
        def run(state, z, labels):
            return nnx.merge(graphdef, state)(z, labels)

        self._run = lambda z, labels: np.asarray(run(state, z, labels))
        rng = np.random.default_rng(seed)
        self.noise = rng.uniform(-1, 1, (NUM_VARIATIONS, self.latent_dim)).astype(np.float32)
        self._bases = rng.uniform(-1, 1, (INFLUENCE_BASES, self.latent_dim)).astype(np.float32)
        self._influence: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def images(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) digits for z (N, latent_dim) and labels (N,)."""
        with self._lock:
            return to_uint8(self._run(np.asarray(z, np.float32), np.asarray(labels, np.int32)))

    def generate(self, label: int, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The digit for (label, z), shape (28, 28), and NUM_VARIATIONS digits at nearby z."""
        near = np.clip(z[None, :] + VARIATION_SCALE * self.noise, -Z_LIMIT, Z_LIMIT)
        batch = np.concatenate([z[None, :], near]).astype(np.float32)
        imgs = self.images(batch, np.full(len(batch), label, np.int32))
        return imgs[0], imgs[1:]

    def influence(self, label: int) -> np.ndarray:
        """Measured influence of each latent coordinate on class ``label``, shape (latent_dim,):
        the mean absolute pixel change (0..255) when coordinate i moves from -1 to +1, all others
        held at a random z, averaged over INFLUENCE_BASES random z. Cached per class."""
        if label not in self._influence:
            d = self.latent_dim
            total = np.zeros(d)
            for base in self._bases:
                lo = np.repeat(base[None, :], d, axis=0)
                hi = lo.copy()
                lo[np.arange(d), np.arange(d)] = -Z_LIMIT
                hi[np.arange(d), np.arange(d)] = Z_LIMIT
                imgs = self.images(np.concatenate([lo, hi]), np.full(2 * d, label, np.int32)).astype(np.float32)
                total += np.abs(imgs[:d] - imgs[d:]).mean(axis=(1, 2))
            self._influence[label] = total / len(self._bases)
        return self._influence[label]

    # -- request validation -------------------------------------------------------------------
    def parse_label(self, value) -> int:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise BadRequest(f"label must be a whole number 0..{self.num_classes - 1}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"label must be a whole number 0..{self.num_classes - 1}, got {value!r}")
        if not 0 <= value < self.num_classes:
            raise BadRequest(f"label must be in 0..{self.num_classes - 1}, got {value}")
        return value

    def parse_z(self, value) -> np.ndarray:
        if not isinstance(value, list):
            raise BadRequest(f"z must be a list of {self.latent_dim} numbers, got {type(value).__name__}")
        if len(value) != self.latent_dim:
            raise BadRequest(f"z must have {self.latent_dim} numbers, got {len(value)}")
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise BadRequest(f"z[{i}] must be a finite number, got {v!r}")
            if abs(v) > Z_LIMIT:
                raise BadRequest(f"z[{i}] must be in [-{Z_LIMIT:g}, {Z_LIMIT:g}], got {v}")
        return np.asarray(value, np.float32)


def _reject_constant(token: str):
    raise ValueError(f"{token} is not a number")


class Handler(BaseHTTPRequestHandler):
    """Routes for the page and its JSON endpoints (``server.model`` is a DemoModel)."""

    server_version = "acgan-demo/1"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _guard(self, fn) -> None:
        try:
            fn()
        except BadRequest as e:
            self._json(e.status, {"error": str(e)})
        except Exception as e:  # a bug, not the client's fault: say so and keep serving
            self.log_error("internal error: %r", e)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(e).__name__}"})

    def do_GET(self):
        self._guard(self._get)

    def do_HEAD(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def do_PUT(self):
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use GET or POST"})

    do_DELETE = do_PATCH = do_PUT

    def _get(self):
        url = urlparse(self.path)
        model: DemoModel = self.server.model
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
        elif url.path == "/api/info":
            self._json(HTTPStatus.OK, {"latent_dim": model.latent_dim, "num_classes": model.num_classes,
                                       "sliders": min(NUM_SLIDERS, model.latent_dim),
                                       "variations": NUM_VARIATIONS, "z_limit": Z_LIMIT})
        elif url.path == "/api/influence":
            labels = parse_qs(url.query).get("label")
            if not labels:
                raise BadRequest("missing ?label=C")
            label = model.parse_label(labels[0])
            infl = model.influence(label)
            order = np.argsort(-infl, kind="stable")
            self._json(HTTPStatus.OK, {"label": label, "ranking": order.tolist(),
                                       "influence": [round(float(v), 3) for v in infl]})
        elif url.path == "/api/generate":
            raise BadRequest("POST a JSON body {\"label\": C, \"z\": [...]} to /api/generate",
                             HTTPStatus.METHOD_NOT_ALLOWED)
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            raise BadRequest(f"no such page: {url.path}", HTTPStatus.NOT_FOUND)

    def _post(self):
        if urlparse(self.path).path != "/api/generate":
            raise BadRequest(f"no such endpoint: {self.path}", HTTPStatus.NOT_FOUND)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("a Content-Length header is required", HTTPStatus.LENGTH_REQUIRED) from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise BadRequest(f"body must be at most {MAX_BODY_BYTES} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest(f"body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object {\"label\": C, \"z\": [...]}")
        model: DemoModel = self.server.model
        if "label" not in body or "z" not in body:
            raise BadRequest("body needs both \"label\" and \"z\"")
        label, z = model.parse_label(body["label"]), model.parse_z(body["z"])
        t0 = time.perf_counter()
        digit, near = model.generate(label, z)
        ms = (time.perf_counter() - t0) * 1000
        self._json(HTTPStatus.OK, {"label": label, "image": data_url(digit),
                                   "variations": [data_url(v) for v in near], "ms": round(ms, 1)})


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: DemoModel, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, quiet: bool = False):
        self.model = model
        self.quiet = quiet
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(checkpoint: str | Path = "pretrained", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                quiet: bool = False, warm_up: bool = True) -> DemoServer:
    """Load the generator and bind the server (``port=0``: a free port; see ``server.url``)."""
    from . import checkpoint as ckpt
    from . import pretrained

    path = pretrained.GENERATOR_DIR if str(checkpoint) == "pretrained" else Path(checkpoint)
    model = DemoModel(ckpt.load_generator(path))
    server = DemoServer(model, host, port, quiet)   # bind first: a busy port fails before compiling
    if warm_up:  # compile both batch shapes now so the first slider move is fast
        try:
            model.generate(0, np.zeros(model.latent_dim, np.float32))
            model.influence(0)
        except BaseException:
            server.server_close()
            raise
    return server


def serve(checkpoint: str | Path = "pretrained", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Run until Ctrl-C (the ``demo`` command). Exit code 2 for an unusable checkpoint or address."""
    import sys

    from .checkpoint import CheckpointError

    try:
        server = make_server(checkpoint, host, port)
    except (CheckpointError, FileNotFoundError) as e:
        print(f"error: cannot load the generator from {checkpoint}: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # port in use, address not on this machine, no permission
        print(f"error: cannot serve on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"ACGAN demo on {server.url}  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the exit code of every interrupted command
        print("stopped")
        return 130
    finally:
        server.server_close()
    return 0


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ACGAN demo: draw a digit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 60rem; }
 h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
 .row { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
 #classes button { width: 2.4rem; height: 2.4rem; font-size: 1.1rem; margin: 0 .15rem .3rem 0; cursor: pointer; }
 #classes button.on { background: #1f6feb; color: white; border-color: #1f6feb; }
 .slider { display: grid; grid-template-columns: 4.5rem 14rem 3.5rem; align-items: center; gap: .4rem; }
 .slider small { color: #666; }
 img.digit { image-rendering: pixelated; background: #000; }
 #digit { width: 224px; height: 224px; }
 #variations img { width: 64px; height: 64px; margin-right: 4px; }
 #status { color: #666; min-height: 1.2em; } #error { color: #b00020; min-height: 1.2em; }
</style></head>
<body>
<h1>ACGAN: pick a class, move the latent sliders</h1>
<p>The generator draws a 28&times;28 digit from a class and a latent vector <i>z</i> of
<span id="dim">?</span> numbers in [-1, 1]. It multiplies <i>z</i> by a learned vector for the class,
so only some coordinates matter much for a given class: the sliders are the
<span id="nsl">?</span> coordinates with the largest measured effect on this class.</p>
<div id="classes" role="group" aria-label="class"></div>
<div class="row">
 <div><div id="sliders"></div>
  <p><button id="random">random z</button></p></div>
 <div><img id="digit" class="digit" alt="generated digit">
  <p id="status"></p><p id="error" role="alert"></p></div>
</div>
<h2 style="font-size:1.1rem">Nearby z (same class, z plus a little noise)</h2>
<div id="variations"></div>
<script>
"use strict";
let info = null, label = 8, z = [], ranking = [], busy = false, pending = false;
const $ = (id) => document.getElementById(id);
const fmt = (v) => v.toFixed(2);
function randomZ() { return Array.from({length: info.latent_dim}, () => Math.random() * 2 - 1); }
async function api(path, body) {
  const opts = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify(body)};
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}
async function render() {
  if (busy) { pending = true; return; }
  busy = true;
  try {
    const t0 = performance.now();
    const out = await api("/api/generate", {label, z});
    $("digit").src = out.image;
    $("digit").alt = "generated digit of class " + label;
    const row = $("variations");
    row.replaceChildren(...out.variations.map((u, i) => {
      const im = document.createElement("img"); im.className = "digit"; im.src = u;
      im.alt = "variation " + (i + 1); return im; }));
    $("status").textContent = `class ${label}: ${out.ms.toFixed(0)} ms on the server, ` +
                              `${(performance.now() - t0).toFixed(0)} ms round trip`;
    $("error").textContent = "";
  } catch (e) { $("error").textContent = e.message; }
  busy = false;
  if (pending) { pending = false; render(); }
}
function buildSliders() {
  const box = $("sliders"); box.replaceChildren();
  ranking.slice(0, info.sliders).forEach((i) => {
    const row = document.createElement("div"); row.className = "slider";
    const lab = document.createElement("label"); lab.textContent = `z[${i}]`; lab.htmlFor = `z${i}`;
    const s = document.createElement("input");
    Object.assign(s, {type: "range", min: -info.z_limit, max: info.z_limit, step: 0.01, value: z[i], id: `z${i}`});
    s.dataset.index = i;
    const val = document.createElement("small"); val.textContent = fmt(z[i]);
    s.addEventListener("input", () => { z[i] = parseFloat(s.value); val.textContent = fmt(z[i]); render(); });
    row.append(lab, s, val); box.append(row);
  });
}
async function selectClass(c) {
  label = c;
  document.querySelectorAll("#classes button").forEach((b) => b.classList.toggle("on", +b.dataset.label === c));
  try { ranking = (await api(`/api/influence?label=${c}`)).ranking; }
  catch (e) { $("error").textContent = e.message; return; }
  buildSliders();
  await render();
}
async function main() {
  info = await api("/api/info");
  $("dim").textContent = info.latent_dim; $("nsl").textContent = info.sliders;
  z = randomZ();
  for (let c = 0; c < info.num_classes; c++) {
    const b = document.createElement("button"); b.textContent = c; b.dataset.label = c;
    b.addEventListener("click", () => selectClass(c)); $("classes").append(b);
  }
  $("random").addEventListener("click", () => { z = randomZ(); buildSliders(); render(); });
  await selectClass(label);
  document.body.dataset.ready = "1";
}
main().catch((e) => { $("error").textContent = e.message; });
</script>
</body></html>
"""
