#!/usr/bin/env python3
"""Latency and throughput of small HTTP requests through agentbox's network
proxy (network_access: restricted), against the same requests sent directly
(network_access: full), side by side in one run.

Both variants run the same client inside agentbox: Python's http.client, one
new connection per request (the proxy checks every request on its own
connection, so the direct variant opens one per request too), a 13-byte
response from an HTTP server on 127.0.0.1 that this script starts.  Rounds of
the two variants alternate, so machine noise falls on both.

    bench/proxy.py [--rounds 10] [--requests 200] [--agentbox PATH]
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

CLIENT = r'''
import http.client, json, time
N, PORT, VIA_PROXY = %d, %d, %s
lat = []
t0 = time.perf_counter()
for i in range(N):
    t = time.perf_counter()
    if VIA_PROXY:
        c = http.client.HTTPConnection("127.0.0.1", 3128)
        c.request("GET", f"http://bench.test:{PORT}/", headers={"Host": f"bench.test:{PORT}"})
    else:
        c = http.client.HTTPConnection("127.0.0.1", PORT)
        c.request("GET", "/")
    r = c.getresponse()
    assert r.read() == b"hello, agent\n", r.status
    c.close()
    lat.append(time.perf_counter() - t)
print(json.dumps({"lat": lat, "wall": time.perf_counter() - t0}))
'''


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "13")
        self.end_headers()
        self.wfile.write(b"hello, agent\n")

    def log_message(self, *args):
        pass


def run(agentbox, args, code):
    p = subprocess.run([agentbox, "python", "--json", "--timeout", "120", *args, "-c", code],
                       capture_output=True, text=True)
    doc = json.loads(p.stdout)
    if doc["status"] != "success":
        raise SystemExit(f"run failed: {doc['status']} {doc['stderr'][-500:]} {doc['message']}")
    return json.loads(doc["stdout"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--agentbox", default=os.path.join(HERE, "..", "build", "agentbox"))
    a = ap.parse_args()

    import tempfile
    policy = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    policy.write("agent_sandbox:\n  security_policy:\n    max_network_connections: 1000000\n")
    policy.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    variants = {
        "direct (network full)": (["--network", "host"], False),
        "proxy (network restricted)": (["--config", policy.name, "--network", "restricted",
                                        "--allow-domain",
                                        f"bench.test:{port}", "--network-host",
                                        "bench.test=127.0.0.1"], True),
    }
    lat = {k: [] for k in variants}
    rate = {k: [] for k in variants}
    run(a.agentbox, variants["direct (network full)"][0], CLIENT % (20, port, False))  # warm-up
    for _ in range(a.rounds):
        for name, (args, via) in variants.items():
            r = run(a.agentbox, args, CLIENT % (a.requests, port, via))
            lat[name] += r["lat"]
            rate[name].append(a.requests / r["wall"])
    server.shutdown()
    os.unlink(policy.name)

    print(f"{a.rounds} rounds x {a.requests} requests per variant, alternating; "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| variant | median latency ms | p90 ms | p99 ms | requests/s (median round) |")
    print("|---|--:|--:|--:|--:|")
    med = {}
    for name in variants:
        v = sorted(lat[name])
        med[name] = statistics.median(v)
        print(f"| {name} | {med[name] * 1000:.3f} | {v[int(len(v) * 0.9)] * 1000:.3f} | "
              f"{v[int(len(v) * 0.99)] * 1000:.3f} | {statistics.median(rate[name]):.0f} |")
    d, p = med["direct (network full)"], med["proxy (network restricted)"]
    print(f"\nproxy overhead on median latency: +{(p - d) * 1000:.3f} ms = "
          f"**{(p / d - 1) * 100:.1f} %** (target: at most 20 %)")


if __name__ == "__main__":
    main()
