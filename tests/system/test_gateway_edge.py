"""System tests of the gateway's HTTP edge (issue 12 item 6): request
framing that could smuggle a second request, bodies that are not JSON,
headers too large, and slow clients from many addresses that must not keep
a new client out.

Raw sockets on loopback only; every receive has a timeout.
"""
import json
import socket
import threading
import time

import pytest

from nagar_proc import wait_until

pytestmark = pytest.mark.timeout(120)


def exchange(port, data, timeout=5.0, source="127.0.0.1"):
    """Sends raw bytes; returns (everything the server sent, closed) where
    closed says the server closed the connection before timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
        s.sendall(data)
        chunks, closed = [], False
        s.settimeout(timeout)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    return b"".join(chunks), closed


def responses(raw):
    """[(status, headers dict, body bytes)] for every HTTP/1.1 response in raw
    (Content-Length framed, as the gateway sends)."""
    out = []
    while raw.startswith(b"HTTP/1.1 "):
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        length = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:length]))
        raw = rest[length:]
    return out


def error_code(body):
    return json.loads(body)["error"]["code"]


@pytest.fixture
def edge(broker, gateway):  # noqa: F811  (fixtures from bus_fixtures, gateway_fixtures)
    return gateway(broker())


SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_content_length_with_transfer_encoding_is_400_and_closed(edge):
    # A front proxy reading Content-Length and the gateway reading chunked
    # (or the reverse) disagree on where the first request ends: the rest
    # would be served as a second request nobody sent through the proxy.
    body = b"0\r\n\r\n" + SMUGGLED
    raw, closed = exchange(edge.port, b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body)
                           + body)
    got = responses(raw)
    assert len(got) == 1, f"more than one response: the smuggled request was served: {raw!r}"
    status, headers, payload = got[0]
    assert status == 400 and error_code(payload) == "MALFORMED_REQUEST", raw
    assert headers.get("connection", "").lower() == "close" and closed, raw
    assert "Content-Length and Transfer-Encoding" in json.loads(payload)["error"]["message"]


def test_two_different_content_lengths_are_400_and_closed(edge):
    body = b'{"mobile":"9876543210"}'
    raw, closed = exchange(edge.port, b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                           b"Content-Length: 5\r\n\r\n" % len(body) + body + SMUGGLED)
    got = responses(raw)
    assert len(got) == 1 and got[0][0] == 400, raw
    assert error_code(got[0][2]) == "MALFORMED_REQUEST" and closed, raw
    # The same value twice is one length, not an ambiguity.
    raw, _ = exchange(edge.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                      b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert responses(raw)[0][0] == 200, raw


@pytest.mark.parametrize("name", [b"Transfer-Encoding ", b"Transfer-Encoding\t",
                                  b"Content-Length ", b"X Forwarded"])
def test_a_header_name_that_is_not_a_token_is_400_and_closed(edge, name):
    # "Transfer-Encoding : chunked" is no header the gateway knows, so it
    # framed the body by Content-Length and answered the request behind it;
    # a proxy that trims the name reads chunked and forwards both as one.
    # RFC 9112 section 5.1: whitespace before the colon is a 400.
    body = b"0\r\n\r\n" + SMUGGLED
    raw, closed = exchange(edge.port, b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n" + name + b": chunked\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body)
    got = responses(raw)
    assert len(got) == 1, f"more than one response: the smuggled request was served: {raw!r}"
    status, headers, payload = got[0]
    assert status == 400 and error_code(payload) == "MALFORMED_REQUEST", raw
    assert "is not a token" in json.loads(payload)["error"]["message"], raw
    assert headers.get("connection", "").lower() == "close" and closed, raw


@pytest.mark.parametrize("encoding", [b"gzip", b"chunked, chunked", b"identity"])
def test_transfer_encodings_other_than_chunked_are_400(edge, encoding):
    raw, closed = exchange(edge.port, b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nTransfer-Encoding: " + encoding +
                           b"\r\n\r\n0\r\n\r\n")
    got = responses(raw)
    assert got and got[0][0] in (400, 501), raw
    if got[0][0] == 400 and got[0][2]:
        assert error_code(got[0][2]) == "MALFORMED_REQUEST", raw
    assert closed


def test_body_that_is_not_json_is_415(edge):
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "application/jsonp", None):
        headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
        r = edge.post("/api/v1/auth/otp", data=b'{"mobile":"9876543210"}', headers=headers)
        assert r.status_code == 415, (content_type, r.status_code, r.text)
        assert r.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert r.json()["error"]["field"] == "Content-Type"
    # JSON with parameters is JSON; the request goes on to the route (which
    # answers for itself: identity is not running here).
    r = edge.post("/api/v1/auth/otp", data=b'{"mobile":"9876543210"}',
                  headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code != 415, r.text
    # No body, no type needed.
    assert edge.get("/healthz").status_code == 200


def test_headers_too_large_get_the_json_error_shape(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_MAX_HEADER_BYTES=8192)
    r = g.get("/healthz", headers={"X-Big": "h" * 10000})
    assert r.status_code == 431, r.status_code
    assert r.json()["error"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert g.get("/healthz").status_code == 200


def test_slow_clients_from_ten_addresses_do_not_keep_a_new_client_out(broker, gateway):  # noqa: F811
    # 10 addresses x 32 connections that send half a request line and then
    # trickle, against a limit of 200 connections: without room kept for new
    # clients the 201st would be refused for as long as they trickle.
    g = gateway(broker(), NAGAR_GATEWAY_MAX_CONNECTIONS=200,
                NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP=32, NAGAR_GATEWAY_HEADER_TIMEOUT_S=30,
                NAGAR_GATEWAY_CONNECTION_TIMEOUT_S=30, NAGAR_GATEWAY_RATE_PER_IP=0)
    held, stop = [], threading.Event()
    try:
        for a in range(2, 12):
            for _ in range(32):
                try:
                    s = socket.create_connection(("127.0.0.1", g.port), timeout=5,
                                                 source_address=(f"127.0.0.{a}", 0))
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    held.append(s)
                except OSError:
                    pass

        def trickle():
            while not stop.wait(1.0):
                for s in list(held):
                    try:
                        s.sendall(b"X: y\r\n")
                    except OSError:
                        pass
        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)
        served = 0
        for _ in range(10):
            raw, _ = exchange(g.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                              b"\r\n\r\n", timeout=5, source="127.0.0.12")
            got = responses(raw)
            served += bool(got) and got[0][0] == 200
        assert served == 10, f"a new client was served {served} times of 10"
        dropped = g.proc.events("gateway.connection_dropped")
        assert dropped and dropped[0]["state"] == "waiting for headers", dropped[:3]
        assert len(dropped) < 150, "the drop lines are not rate-limited"
    finally:
        stop.set()
        for s in held:
            s.close()


def test_headers_trickled_past_their_deadline_are_cut(broker, gateway):  # noqa: F811
    # libmicrohttpd's idle timeout restarts with every byte; the header
    # deadline does not.
    g = gateway(broker(), NAGAR_GATEWAY_HEADER_TIMEOUT_S=2, NAGAR_GATEWAY_CONNECTION_TIMEOUT_S=30)
    closed = g.trickle_headers([b"X-%d: y\r\n" % i for i in range(40)], 0.25)
    # Cut within the 10 s of trickling, with 30 s of idle timeout: the
    # header deadline did it.
    assert closed, "the trickled headers were not cut before the trickle ended"
    wait_until(lambda: g.proc.events("gateway.connection_dropped"), 5,
               what="the drop to be logged")
    assert g.get("/healthz").status_code == 200
