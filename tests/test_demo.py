"""The demo page's server (acgan_lib/demo.py): its JSON endpoints, its answers to bad requests, and
how it holds up against slow, many or foreign clients (timeouts, bounded workers, Host / Origin
checks), against real servers on 127.0.0.1 with ephemeral ports. Every loop here is bounded and
every socket has a timeout, so each test stops by itself. Speed is measured in
benchmarks/demo_load.py, not here."""
import base64
import contextlib
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from acgan_lib import cli, demo


@pytest.fixture(scope="module")
def server():
    srv = demo.make_server("pretrained", port=0, quiet=True)
    with running(srv):
        yield srv


@contextlib.contextmanager
def running(srv):
    """Serve ``srv`` in a thread for the block, then shut it down."""
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def request(srv, path, body=None, raw=None, method=None, headers=None):
    """(status, parsed JSON or text) for a request to the test server."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(srv.url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text, ctype = r.status, r.read().decode(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, text, ctype = e.code, e.read().decode(), e.headers["Content-Type"]
    return status, (json.loads(text) if ctype == "application/json" else text)


def decode(url: str) -> np.ndarray:
    import matplotlib.image
    assert url.startswith("data:image/png;base64,")
    img = np.asarray(matplotlib.image.imread(io.BytesIO(base64.b64decode(url.split(",", 1)[1])), format="png"))
    if img.ndim == 3:      # the package's PNGs are RGBA with R = G = B (plotting.png_bytes)
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
        assert (img[..., 3] == 1).all()
        img = img[..., 0]
    return np.rint(img * 255).astype(np.uint8)


def z_of(seed, dim=100):
    return np.random.default_rng(seed).uniform(-1, 1, dim).round(4).tolist()


def test_binds_to_loopback_by_default(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.server_address[1] > 0


def test_page_and_info(server):
    status, page = request(server, "/")
    assert status == 200 and "<script>" in page and "/api/generate" in page
    status, info = request(server, "/api/info")
    assert status == 200
    assert info == {"latent_dim": 100, "num_classes": 10, "sliders": demo.NUM_SLIDERS,
                    "variations": demo.NUM_VARIATIONS, "z_limit": 1.0}


def test_png_encoder_round_trips():
    img = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    assert np.array_equal(decode(demo.data_url(img)), img)


def test_generate_returns_the_digit_and_variations(server):
    status, out = request(server, "/api/generate", {"label": 3, "z": z_of(0)})
    assert status == 200 and out["label"] == 3
    digit = decode(out["image"])
    assert digit.shape == (28, 28)
    variations = [decode(u) for u in out["variations"]]
    assert len(variations) == demo.NUM_VARIATIONS
    assert all(v.shape == (28, 28) and not np.array_equal(v, digit) for v in variations)
    # deterministic for the same request; another class or another z draws another image
    assert decode(request(server, "/api/generate", {"label": 3, "z": z_of(0)})[1]["image"]).tolist() == digit.tolist()
    assert not np.array_equal(decode(request(server, "/api/generate", {"label": 7, "z": z_of(0)})[1]["image"]), digit)
    assert not np.array_equal(decode(request(server, "/api/generate", {"label": 3, "z": z_of(1)})[1]["image"]), digit)


def test_generated_digit_matches_the_generator(server):
    z = np.asarray(z_of(2), np.float32)
    want = demo.to_uint8(np.asarray(server.model._run(z[None], np.array([5], np.int32))))[0]
    got = decode(request(server, "/api/generate", {"label": 5, "z": z.tolist()})[1]["image"])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_influence_ranking_puts_strong_coordinates_first(server):
    status, out = request(server, "/api/influence?label=4")
    assert status == 200 and out["label"] == 4
    ranking, infl = out["ranking"], np.asarray(out["influence"])
    assert sorted(ranking) == list(range(100))
    assert all(np.diff(infl[ranking]) <= 0)
    # measured, not assumed: moving the top coordinate changes the digit far more than the last one
    z = np.asarray(z_of(3), np.float32)

    def change(i):
        lo, hi = z.copy(), z.copy()
        lo[i], hi[i] = -1.0, 1.0
        a = decode(request(server, "/api/generate", {"label": 4, "z": lo.tolist()})[1]["image"])
        b = decode(request(server, "/api/generate", {"label": 4, "z": hi.tolist()})[1]["image"])
        return np.abs(a.astype(int) - b.astype(int)).mean()

    assert change(ranking[0]) > 5 * change(ranking[-1]) + 1


BAD_BODIES = [
    ({"label": 12, "z": z_of(0)}, "label must be in 0..9"),
    ({"label": -1, "z": z_of(0)}, "label must be in 0..9"),
    ({"label": "three", "z": z_of(0)}, "whole number"),
    ({"label": 2.5, "z": z_of(0)}, "whole number"),
    ({"label": True, "z": z_of(0)}, "whole number"),
    ({"label": 3, "z": z_of(0)[:99]}, "z must have 100 numbers, got 99"),
    ({"label": 3, "z": z_of(0) + [0.0]}, "z must have 100 numbers, got 101"),
    ({"label": 3, "z": "0.1,0.2"}, "z must be a list"),
    ({"label": 3, "z": ["a"] + z_of(0)[1:]}, "z[0] must be a finite number"),
    ({"label": 3, "z": z_of(0)[:50] + [None] + z_of(0)[51:]}, "z[50] must be a finite number"),
    ({"label": 3, "z": [2.0] + z_of(0)[1:]}, "z[0] must be in [-1, 1]"),
    ({"label": 3}, "needs both"),
    ([3, z_of(0)], "JSON object"),
]


@pytest.mark.parametrize("body, message", BAD_BODIES, ids=[m for _, m in BAD_BODIES])
def test_bad_generate_requests_get_400_with_a_message(server, body, message):
    status, out = request(server, "/api/generate", body)
    assert status == 400
    assert message in out["error"]


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not valid JSON"),
    (b'{"label": 3, "z": [NaN]}', "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_malformed_bodies_get_400(server, raw, message):
    status, out = request(server, "/api/generate", raw=raw)
    assert status == 400 and message in out["error"]


@pytest.mark.parametrize("method, path, status, message", [
    ("GET", "/nope", 404, "no such page"),
    ("POST", "/api/nope", 404, "no such endpoint"),
    ("GET", "/api/generate", 405, "POST a JSON body"),
    ("DELETE", "/api/generate", 405, "use GET or POST"),
    ("GET", "/api/influence", 400, "missing ?label"),
    ("GET", "/api/influence?label=12", 400, "label must be in 0..9"),
    ("GET", "/api/influence?label=x", 400, "whole number"),
])
def test_bad_paths_and_methods(server, method, path, status, message):
    got, out = request(server, path, raw=b"" if method == "POST" else None, method=method)
    assert got == status and message in out["error"]


def test_oversized_body_gets_413(server):
    status, out = request(server, "/api/generate", raw=b" " * (demo.MAX_BODY_BYTES + 1))
    assert status == 413 and "at most" in out["error"]


def test_server_keeps_serving_after_bad_requests(server):
    for body, _ in BAD_BODIES:
        request(server, "/api/generate", body)
    request(server, "/api/generate", raw=b"{oops")
    status, out = request(server, "/api/generate", {"label": 1, "z": z_of(5)})
    assert status == 200 and decode(out["image"]).shape == (28, 28)


def test_cli_registers_demo():
    args = cli.build_parser().parse_args(["demo", "--port", "0"])
    assert (args.command, args.port, args.host, args.checkpoint) == ("demo", 0, "127.0.0.1", "pretrained")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["demo", "--port", "70000"])


def test_demo_command_reports_a_missing_checkpoint(tmp_path, capsys):
    assert cli.main(["demo", "--checkpoint", str(tmp_path / "nothing"), "--port", "0"]) == 2
    assert "cannot load the generator" in capsys.readouterr().err


def test_demo_command_reports_a_busy_port(server, capsys):
    busy = server.server_address[1]
    assert cli.main(["demo", "--port", str(busy)]) == 2
    assert f"cannot serve on 127.0.0.1:{busy}" in capsys.readouterr().err


def test_cli_ctrl_c_returns_130(monkeypatch, capsys):
    """Ctrl-C (KeyboardInterrupt in serve_forever) stops the demo with the documented code 130."""
    class Interrupted:
        url = "http://127.0.0.1:1/"
        closed = False

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            Interrupted.closed = True

    monkeypatch.setattr(demo, "make_server", lambda *a, **k: Interrupted())
    assert demo.serve() == 130
    assert Interrupted.closed and "stopped" in capsys.readouterr().out


# -- slow, many and foreign clients (raw sockets: urllib would always send a whole request) -----
TIMEOUT_S = 1.5   # the request deadline of the `limited` server
SLACK_S = 20.0    # generous: the machine may be busy; a server without a deadline never closes at all


@pytest.fixture(scope="module")
def limited(server):
    """A second server on the same model with small limits: 1.5 s per request, 3 workers."""
    srv = demo.DemoServer(server.model, port=0, request_timeout=TIMEOUT_S, max_workers=3, queue_wait=0.1)
    with running(srv):
        yield srv


def connect(srv, timeout: float = SLACK_S) -> socket.socket:
    sock = socket.create_connection(srv.server_address[:2], timeout=timeout)
    return sock


def read_response(sock: socket.socket) -> tuple[int | None, str]:
    """(status, body) of the server's answer, read to the end; (None, "") if it closed without one."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return None, ""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def exchange(srv, data: bytes) -> tuple[int | None, str]:
    with connect(srv) as sock:
        sock.sendall(data)
        return read_response(sock)


def http(method: str, path: str, host: str | None, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"] + ([f"Host: {host}"] if host is not None else [])
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST" and "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def own_host(srv, name: str = "127.0.0.1") -> str:
    return f"{name}:{srv.server_address[1]}"


def generate_body(label: int = 3) -> bytes:
    return json.dumps({"label": label, "z": z_of(0)}).encode()


def test_half_sent_request_is_closed_after_the_timeout(limited):
    """Slowloris: a request line and one header, then a byte every 0.3 s: closed, not held."""
    with connect(limited) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {own_host(limited)}\r\n".encode())
        t0 = time.monotonic()
        closed = False
        for _ in range(int(SLACK_S / 0.3)):
            try:
                sock.sendall(b"X")
                sock.settimeout(0.3)
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
        waited = time.monotonic() - t0
    assert closed, f"a trickling half request held its connection for {waited:.0f} s"
    assert waited >= TIMEOUT_S * 0.5, "closed before the client had its time"


def test_body_shorter_than_its_content_length(limited):
    """A stalled body gets 408 after the timeout; a body cut short by the client gets 400."""
    with connect(limited) as sock:
        sock.sendall(http("POST", "/api/generate", own_host(limited), b'{"label": 3',
                          {"Content-Length": "100"}))
        status, body = read_response(sock)
    assert status == 408 and "did not arrive within 1.5 s" in json.loads(body)["error"]
    with connect(limited) as sock:
        sock.sendall(http("POST", "/api/generate", own_host(limited), b'{"label": 3', {"Content-Length": "100"}))
        sock.shutdown(socket.SHUT_WR)
        status, body = read_response(sock)
    assert status == 400 and "ended after 11 of the 100 bytes" in json.loads(body)["error"]


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.1.evil.example:{port}",
                                  "", None])
def test_a_foreign_host_gets_403(limited, host):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 cannot use the demo."""
    host = None if host is None else host.format(port=limited.server_address[1])
    for request in (http("GET", "/", host), http("POST", "/api/generate", host, generate_body())):
        status, body = exchange(limited, request)
        assert status == 403
        assert body.count("\n") == 0 and "is not allowed" in json.loads(body)["error"]


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_hosts_are_served(limited, name):
    status, body = exchange(limited, http("POST", "/api/generate", own_host(limited, name), generate_body()))
    assert status == 200 and json.loads(body)["label"] == 3


@pytest.mark.parametrize("origin, status", [
    ("http://evil.example", 403), ("null", 403), ("https://127.0.0.1:{port}", 403), ("http://127.0.0.1:1", 403),
    ("http://127.0.0.1:{port}", 200), ("http://localhost:{port}", 200),
])
def test_cross_origin_post_gets_403(limited, origin, status):
    origin = origin.format(port=limited.server_address[1])
    got, body = exchange(limited, http("POST", "/api/generate", own_host(limited), generate_body(),
                                       {"Origin": origin, "Content-Type": "text/plain"}))
    assert got == status
    if status == 403:
        assert "origin" in json.loads(body)["error"]


def test_any_host_when_bound_to_another_address_but_same_origin_only(server):
    """With --host set to a non-loopback address the user chose to expose the demo: any Host
    name, but an Origin must still be the page's own (http:// + Host)."""
    srv = demo.DemoServer(server.model, host="0.0.0.0", port=0)
    with running(srv):
        assert srv.allowed_hosts is None
        addr = f"127.0.0.1:{srv.server_address[1]}"
        assert exchange(srv, http("GET", "/api/info", "my-laptop.lan"))[0] == 200
        for origin, status in ((f"http://{addr}", 200), ("http://evil.example", 403)):
            assert exchange(srv, http("POST", "/api/generate", addr, generate_body(), {"Origin": origin}))[0] == status


@pytest.mark.parametrize("raw, message", [
    (b"[" * 60_000, "nested too deeply"),
    (b'{"label": 3, "z": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested too deeply"),
    (json.dumps({"label": 3, "z": [[0.1]] * 100}).encode(), "z[0] must be a finite number"),
    (json.dumps({"label": 3, "z": [{"x": 1}] * 100}).encode(), "z[0] must be a finite number"),
    (json.dumps({"label": [3], "z": z_of(0)}).encode(), "whole number"),
    (json.dumps({"label": {"a": 1}, "z": z_of(0)}).encode(), "whole number"),
    (json.dumps({"label": None, "z": z_of(0)}).encode(), "whole number"),
    (json.dumps({"label": 3, "z": {"0": 1}}).encode(), "z must be a list"),
    (json.dumps({"label": 3, "z": [10 ** 300] + z_of(0)[1:]}).encode(), "z[0] must be in [-1, 1]"),
    (json.dumps({"label": 10 ** 300, "z": z_of(0)}).encode(), "label must be in 0..9"),
    (b'{"label": 3, "z": [1e999' + b", 0" * 99 + b"]}", "z[0] must be a finite number"),
    (b'{"label": 3, "z": [' + b"9" * 5000 + b"]}", "not valid JSON"),
    (b'"just a string"', "JSON object"),
    (b"null", "JSON object"),
])
def test_every_malformed_body_gets_400(server, raw, message):
    status, out = request(server, "/api/generate", raw=raw)
    assert status == 400 and message in out["error"]


@pytest.mark.parametrize("headers, status, message", [
    ({"Content-Length": str(10 ** 9)}, 413, "at most 65536 bytes"),
    ({"Content-Length": "-5"}, 400, "must not be negative"),
    ({"Content-Length": "lots"}, 411, "Content-Length header"),
    ({"Transfer-Encoding": "chunked"}, 411, "no Transfer-Encoding"),
])
def test_body_sizes_are_checked_before_reading(limited, headers, status, message):
    """The answer comes at once, without waiting for (or reading) a body that is not sent."""
    with connect(limited, timeout=TIMEOUT_S * 0.8) as sock:   # must not wait for the request deadline
        sock.sendall(http("POST", "/api/generate", own_host(limited), headers=headers))
        got, body = read_response(sock)
    assert got == status and message in json.loads(body)["error"]


@pytest.mark.parametrize("raw, status", [
    (b"BREW / HTTP/1.1\r\nHost: {host}\r\n\r\n", 405),                         # unknown method
    (b"GARBAGE\r\n\r\n", 400),                                                  # no request line
    (b"GET / HTTP/1.1\r\nHost: {host}\r\n" + b"X-A: 1\r\n" * 120 + b"\r\n", 431),  # too many headers
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),                        # request line too long
])
def test_http_servers_own_errors_are_4xx_json(limited, raw, status):
    got, body = exchange(limited, raw.replace(b"{host}", own_host(limited).encode()))
    assert got == status and json.loads(body)["error"]
    assert body.count("\n") == 0


def test_many_slow_connections_hold_at_most_max_workers_threads(server):
    """8 idle connections against 3 workers: at most 3 worker threads exist, a new request gets 503
    (it is not held), and once the idle ones time out the server answers again."""
    srv = demo.DemoServer(server.model, port=0, request_timeout=6.0, max_workers=3, queue_wait=0.1)
    with running(srv):
        baseline = threading.active_count()
        idle = [connect(srv) for _ in range(8)]
        try:
            for sock in idle:
                sock.sendall(b"GET / HTTP/1.1\r\n")       # half a request
            time.sleep(1.0)                               # the server has accepted and refused what it will
            workers = threading.active_count() - baseline
            status, body = exchange(srv, http("GET", "/api/info", own_host(srv)))
        finally:
            for sock in idle:
                sock.close()
        assert 1 <= workers <= 3, f"{workers} worker threads for 8 slow connections (limit 3)"
        assert status == 503 and "server busy" in json.loads(body)["error"]
        for _ in range(int(SLACK_S / 0.25)):              # the closed connections free their workers
            status, _ = exchange(srv, http("GET", "/api/info", own_host(srv)))
            if status == 200:
                break
            time.sleep(0.25)
        assert status == 200


def test_clients_that_leave_early_print_no_traceback(limited, capfd):
    """Clients that disconnect before reading the answer (BrokenPipe / ConnectionReset on the
    server's side) leave nothing in the log."""
    for i in range(12):
        sock = connect(limited)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close = reset
        sock.sendall(http("POST", "/api/generate", own_host(limited), generate_body(i % 10)))
        sock.close()
    status, _ = exchange(limited, http("GET", "/api/info", own_host(limited)))   # still serving
    time.sleep(0.5)
    assert status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[-2000:]
