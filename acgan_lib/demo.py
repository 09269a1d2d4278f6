"""A small local web page to play with a trained generator, like the tfjs ``mnist-acgan`` demo.

    python -m acgan_lib demo [--port 8000] [--host 127.0.0.1] [--checkpoint pretrained]

Pick a class, move the sliders of the latent coordinates that matter most for that class (or
press "random z"), and the digit and a row of nearby variations update. The server is the
standard library's ``http.server`` (no new dependency, nothing but this process to start); the
page is one static HTML/JS file (the package asset ``assets/demo/index.html``) that talks to a
JSON endpoint:

* ``GET  /``                          the page
* ``GET  /api/info``                  ``{"latent_dim", "num_classes", "sliders", "variations"}``
* ``GET  /api/influence?label=C``     latent coordinates ranked by their measured effect on class C
* ``POST /api/generate``              body ``{"label": C, "z": [latent_dim numbers in [-1, 1]]}``
  -> ``{"image": PNG data URL, "variations": [PNG data URLs], "ms": server time}``

Bad requests get a 4xx with a one-line JSON ``{"error": message}``, and the server keeps
serving: unknown class, wrong z length, non-numbers, bad or deeply nested JSON (400), unknown
paths (404), other methods (405), a body shorter than its Content-Length (400 if the client
closed, 408 if it stalled), no Content-Length (411), a body over ``MAX_BODY_BYTES`` (413).

How it holds up against slow, many or hostile clients:

* **Timeouts.** A client has ``REQUEST_TIMEOUT_S`` seconds for its whole request (request line,
  headers and body together, not per read: trickling a byte at a time does not keep a connection
  open); then the connection is closed (408 for a stalled body).
* **Bounded workers.** At most ``MAX_WORKERS`` requests are handled at once (one thread each).
  A connection beyond that waits up to ``QUEUE_WAIT_S`` for a free worker, then gets 503 with
  ``Retry-After: 1``.
* **Host and Origin.** Bound to a loopback address (the default 127.0.0.1), the server answers
  only requests whose ``Host`` is ``127.0.0.1``, ``localhost`` or ``[::1]`` with its own port, as
  Jupyter's server does for local-only use: a DNS-rebinding page (a foreign name resolving to
  127.0.0.1) gets 403. A request carrying an ``Origin`` must come from the page itself
  (``http://`` + one of those hosts; with ``--host`` set to another address, ``http://`` + its
  ``Host``): a cross-origin POST gets 403.
* **Quiet.** No access log by default (``quiet=False`` prints one line per request); a client
  that disconnects or stalls is not an error and prints nothing; an internal error prints one
  line and the server keeps serving.

Why rank coordinates: the generator multiplies z by a learned per-class embedding
(``h = z * embedding[label]``), so for a given class most coordinates are scaled down and barely
change the image. :meth:`DemoModel.influence` measures each coordinate's effect (mean absolute
pixel change when it moves from -1 to +1, averaged over a few random z) and the page puts the
sliders on the strongest ones.
"""
from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import json
import math
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from .data import to_pixels
from .plotting import png_bytes

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
NUM_SLIDERS = 8            # sliders shown: the most influential coordinates for the class
NUM_VARIATIONS = 8         # the row of "nearby z" variations under the main digit
VARIATION_SCALE = 0.35     # variation k uses clip(z + VARIATION_SCALE * noise_k, -1, 1)
INFLUENCE_BASES = 2        # random z's the influence of each coordinate is averaged over
MAX_BODY_BYTES = 64 * 1024
Z_LIMIT = 1.0              # the generator was trained on z ~ U[-1, 1]
REQUEST_TIMEOUT_S = 5.0    # a client's whole request (line, headers, body) must arrive within this
MAX_WORKERS = 16           # requests handled at once (one thread each)
QUEUE_WAIT_S = 0.5         # how long a connection beyond MAX_WORKERS waits for a worker before 503
CLOSE_WAIT_S = 1.0          # on Ctrl-C, how long requests in progress may take to finish
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")   # the Host names accepted on a loopback address
PAGE_PATH = Path(__file__).resolve().parent / "assets" / "demo" / "index.html"


class BadRequest(ValueError):
    """A client error: answered with ``status`` and the message."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = int(status)


def _short(value) -> str:
    """``repr(value)`` cut to 40 characters, for error messages that quote a client's value."""
    try:
        text = repr(value)
    except ValueError:   # an integer of more than 4300 digits
        text = f"an {type(value).__name__} too long to show"
    return text if len(text) <= 40 else text[:37] + "..."


def data_url(image: np.ndarray) -> str:
    """A uint8 grey image (H, W) as a ``data:image/png;base64,...`` URL (:func:`plotting.png_bytes`)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output (N, 28, 28, 1) in [-1, 1] -> uint8 (N, 28, 28) (= :func:`data.to_pixels`)."""
    return to_pixels(images)


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
                raise BadRequest(f"label must be a whole number 0..{self.num_classes - 1}, "
                                 f"got {_short(value)}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"label must be a whole number 0..{self.num_classes - 1}, got {_short(value)}")
        if not 0 <= value < self.num_classes:
            raise BadRequest(f"label must be in 0..{self.num_classes - 1}, got {_short(value)}")
        return value

    def parse_z(self, value) -> np.ndarray:
        if not isinstance(value, list):
            raise BadRequest(f"z must be a list of {self.latent_dim} numbers, got {type(value).__name__}")
        if len(value) != self.latent_dim:
            raise BadRequest(f"z must have {self.latent_dim} numbers, got {len(value)}")
        for i, v in enumerate(value):
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not number or (isinstance(v, float) and not math.isfinite(v)):
                raise BadRequest(f"z[{i}] must be a finite number, got {_short(v)}")
            if abs(v) > Z_LIMIT:   # before any float(): a 400-digit integer is an answer, not an OverflowError
                raise BadRequest(f"z[{i}] must be in [-{Z_LIMIT:g}, {Z_LIMIT:g}], got {_short(v)}")
        return np.asarray(value, np.float32)


def _reject_constant(token: str):
    raise ValueError(f"{token} is not a number")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _DeadlineReader(io.RawIOBase):
    """A socket's input with one deadline for the whole request: each read may wait only for the
    time left (a per-read timeout alone lets a client trickle one byte every few seconds forever)."""

    def __init__(self, sock: socket.socket, deadline: float, write_timeout: float):
        self._sock, self.deadline, self._write_timeout = sock, deadline, write_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._write_timeout)   # writes keep a per-write timeout


class Handler(BaseHTTPRequestHandler):
    """Routes for the page and its JSON endpoints (``server.model`` is a DemoModel).

    HTTP/1.0: one request per connection, so the request deadline is the connection's."""

    server_version = "acgan-demo/1"
    default_request_version = "HTTP/1.0"   # answer even an unparseable request with a status line
    server: DemoServer

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        super().setup()
        self.rfile.close()   # replaced by a reader with one deadline for the whole request
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, time.monotonic() + self.timeout,
                                                       self.timeout))

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass   # the client left or stalled: nothing to answer, nothing to log

    def finish(self) -> None:
        super().finish()
        # drain what the client sent and was not read (a refused body): closing a socket with
        # unread input sends a reset, which can destroy the answer before the client reads it
        with contextlib.suppress(OSError):
            self.connection.setblocking(False)
            for _ in range(MAX_BODY_BYTES // 4096):
                if not self.connection.recv(65536):
                    break

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long, timeout) as one-line JSON;
        an unknown method is the client's mistake: 405, not 501."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"unsupported method {_short(self.command)}: use GET or POST"
        self.close_connection = True
        self._json(code, {"error": message or HTTPStatus(code).phrase})

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _guard(self, fn) -> None:
        try:
            self._check_host_and_origin()
            fn()
        except BadRequest as e:
            self._json(e.status, {"error": str(e)})
        except (ConnectionError, TimeoutError):
            raise   # the client is gone: handle() drops the connection quietly
        except Exception as e:  # a bug, not the client's fault: one line, and keep serving
            if self.server.closing:
                raise   # the server is stopping (Ctrl-C): sockets are going away, nothing to report
            print(f"acgan demo: internal error on {self.command} {_short(self.path)}: {e!r}", file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(e).__name__}"})

    def _check_host_and_origin(self) -> None:
        host = self.headers.get("Host")
        allowed = self.server.allowed_hosts
        if allowed is not None and (host is None or host.lower() not in allowed):
            raise BadRequest(f"host {_short(host)} is not allowed: this demo answers {self.server.url} only",
                             HTTPStatus.FORBIDDEN)
        origin = self.headers.get("Origin")
        if origin is not None:
            origins = {f"http://{h}" for h in (allowed if allowed is not None else {(host or "").lower()})}
            if origin.lower() not in origins:
                raise BadRequest(f"origin {_short(origin)} is not allowed: only the demo's own page may call it",
                                 HTTPStatus.FORBIDDEN)

    def do_GET(self):
        self._guard(self._get)

    def do_HEAD(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def do_PUT(self):
        self._guard(self._not_allowed)

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT

    def _not_allowed(self):
        raise BadRequest("use GET or POST", HTTPStatus.METHOD_NOT_ALLOWED)

    def _get(self):
        url = urlparse(self.path)
        model: DemoModel = self.server.model
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
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
            raise BadRequest(f"no such page: {_short(url.path)}", HTTPStatus.NOT_FOUND)

    def _read_body(self) -> bytes:
        """The request body, all of it, within the request's deadline."""
        if "Transfer-Encoding" in self.headers:
            raise BadRequest("send the body with a Content-Length header (no Transfer-Encoding)",
                             HTTPStatus.LENGTH_REQUIRED)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("a Content-Length header (a whole number of bytes) is required",
                             HTTPStatus.LENGTH_REQUIRED) from None
        if length < 0:
            raise BadRequest(f"Content-Length must not be negative, got {length}")
        if length > MAX_BODY_BYTES:
            raise BadRequest(f"body must be at most {MAX_BODY_BYTES} bytes, got {length}",
                             HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise BadRequest(f"the body did not arrive within {self.server.request_timeout:g} s "
                             f"(Content-Length says {length} bytes)", HTTPStatus.REQUEST_TIMEOUT) from None
        if len(raw) < length:
            raise BadRequest(f"the body ended after {len(raw)} of the {length} bytes its Content-Length promised")
        return raw

    def _post(self):
        if urlparse(self.path).path != "/api/generate":
            raise BadRequest(f"no such endpoint: {_short(self.path)}", HTTPStatus.NOT_FOUND)
        raw = self._read_body()
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest(f"body is not valid JSON: {e}") from None
        except RecursionError:
            raise BadRequest("body is not valid JSON: nested too deeply") from None
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
    """The demo's HTTP server: a thread per request, at most ``max_workers`` at once.

    ``allowed_hosts``: the ``Host`` values answered (lower case), or None (any) when bound to a
    non-loopback address the user chose with ``--host``."""

    daemon_threads = True
    request_queue_size = 64     # connections the kernel holds while every worker is busy

    def __init__(self, model: DemoModel, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, quiet: bool = True,
                 *, request_timeout: float = REQUEST_TIMEOUT_S, max_workers: int = MAX_WORKERS,
                 queue_wait: float = QUEUE_WAIT_S, page_path: Path = PAGE_PATH):
        self.model = model
        self.quiet = quiet
        self.request_timeout = float(request_timeout)
        self.queue_wait = float(queue_wait)
        self.max_workers = int(max_workers)
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self.closing = False
        self.page = Path(page_path).read_bytes()
        super().__init__((host, port), Handler)
        bound_port = self.server_address[1]
        self.allowed_hosts: set[str] | None = None
        if is_loopback(host):
            self.allowed_hosts = {f"{name}:{bound_port}" for name in LOOPBACK_NAMES}
            if bound_port == 80:
                self.allowed_hosts |= set(LOOPBACK_NAMES)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def process_request(self, request, client_address) -> None:
        """Hand the connection to a worker thread, waiting up to ``queue_wait`` for a free one."""
        if not self._slots.acquire(timeout=self.queue_wait):
            self._refuse(request)
            return
        try:
            threading.Thread(target=self._work, args=(request, client_address), daemon=True).start()
        except BaseException:
            self._slots.release()
            self.shutdown_request(request)
            raise

    def _work(self, request, client_address) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request) -> None:
        """503 without reading the request (what has arrived is drained, so closing sends no reset)."""
        body = json.dumps({"error": f"server busy: {self.max_workers} requests in progress, try again"}).encode()
        head = ("HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
        with contextlib.suppress(OSError):
            request.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while request.recv(65536):
                    pass
            request.settimeout(0.2)
            request.sendall(head + body)
        self.shutdown_request(request)

    def server_close(self) -> None:
        """Close the listening socket; give requests in progress up to ``CLOSE_WAIT_S`` to finish
        (their daemon threads die with the process, and an error they meet then is not reported)."""
        self.closing = True
        super().server_close()
        deadline = time.monotonic() + CLOSE_WAIT_S
        for _ in range(self.max_workers):
            if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break

    def handle_error(self, request, client_address) -> None:
        """One line, no traceback; a client that left or stalled is not an error at all."""
        exc = sys.exc_info()[1]
        if not self.closing and not isinstance(exc, (ConnectionError, TimeoutError)):
            print(f"acgan demo: error with a request from {client_address[0]}: {exc!r}", file=sys.stderr)


def make_server(checkpoint: str | Path = "pretrained", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                quiet: bool = True, warm_up: bool = True, **limits) -> DemoServer:
    """Load the generator and bind the server (``port=0``: a free port; see ``server.url``).

    ``limits``: ``request_timeout``, ``max_workers``, ``queue_wait`` of :class:`DemoServer` (tests
    use smaller ones)."""
    from . import checkpoint as ckpt
    from . import pretrained

    path = pretrained.GENERATOR_DIR if str(checkpoint) == "pretrained" else Path(checkpoint)
    model = DemoModel(ckpt.load_generator(path))
    server = DemoServer(model, host, port, quiet, **limits)   # bind first: a busy port fails before compiling
    if warm_up:  # compile both batch shapes now so the first slider move is fast
        try:
            model.generate(0, np.zeros(model.latent_dim, np.float32))
            model.influence(0)
        except BaseException:
            server.server_close()
            raise
    return server


def serve(checkpoint: str | Path = "pretrained", host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Run until Ctrl-C (the ``demo`` command); returns the exit code.

    130 when stopped by Ctrl-C (KeyboardInterrupt), the README's code for an interrupted command;
    2 for an unusable checkpoint or address (one line ``error: ...``); 0 only if another thread
    stops the server (``server.shutdown()``). Under ``python -m acgan_lib demo`` SIGTERM is turned
    into the same KeyboardInterrupt (:mod:`acgan_lib.interrupts`), so it also gives 130."""
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
        print("stopped", flush=True)
        return 130
    finally:
        server.server_close()
    return 0
