"""The demo page's server (acgan_lib/demo.py): its JSON endpoints and its answers to bad requests,
against a real server on 127.0.0.1 with an ephemeral port."""
import base64
import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from acgan_lib import cli, demo


@pytest.fixture(scope="module")
def server():
    srv = demo.make_server("pretrained", port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


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
    img = matplotlib.image.imread(io.BytesIO(base64.b64decode(url.split(",", 1)[1])), format="png")
    return np.rint(np.asarray(img) * 255).astype(np.uint8)


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
