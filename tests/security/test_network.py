"""Network: with the default --network none nothing leaves the sandbox; the
host's loopback listeners see no connection and no datagram.  The sandbox's
own loopback works (programs may talk to themselves): 127.0.0.1 inside is the
sandbox's, so a connect to the host listener's port is refused at once."""
import socket

from canaries import brief, py, run_box


def ok(doc, stdout):
    assert (doc["status"], doc["limit"], doc["exit_code"], doc["_exit"]) == \
        ("success", None, 0, 0), brief(doc)
    assert doc["stdout"] == stdout, brief(doc)


CONNECT = '''
def connect(label, family, addr, kind=socket.SOCK_STREAM):
    s = socket.socket(family, kind)
    s.settimeout(2)
    try:
        s.connect(addr)
    except OSError as e:
        print(f"{label}: {_name(e.errno)}", flush=True)
    else:
        print(f"{label}: CONNECTED", flush=True)
    finally:
        s.close()
'''


def test_tcp_connect_to_host_loopback_listener_is_refused_econnrefused(box, canary, listener):
    doc = run_box(box, "python", "-c", py(CONNECT, '''
        connect("127.0.0.1", socket.AF_INET, ("127.0.0.1", PORT))
        connect("localhost", socket.AF_INET, ("localhost", PORT))
        connect("127.1.2.3", socket.AF_INET, ("127.1.2.3", PORT))
    ''', PORT=listener.port), canary=canary)
    ok(doc, "127.0.0.1: ECONNREFUSED\nlocalhost: ECONNREFUSED\n127.1.2.3: ECONNREFUSED\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_tcp6_connect_to_host_loopback_listener_is_refused_econnrefused(box, canary, listener):
    doc = run_box(box, "python", "-c", py(CONNECT, '''
        connect("::1", socket.AF_INET6, ("::1", PORT6))
        connect("v4mapped", socket.AF_INET6, ("::ffff:127.0.0.1", PORT))
    ''', PORT=listener.port, PORT6=listener.port6), canary=canary)
    ok(doc, "::1: ECONNREFUSED\nv4mapped: ECONNREFUSED\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_tcp_connect_with_network_none_explicit_is_refused_econnrefused(box, canary, listener):
    doc = run_box(box, "python", "--network", "none", "-c", py(CONNECT, '''
        connect("127.0.0.1", socket.AF_INET, ("127.0.0.1", PORT))
    ''', PORT=listener.port), canary=canary)
    ok(doc, "127.0.0.1: ECONNREFUSED\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_udp_datagram_to_host_loopback_listener_never_arrives(box, canary, listener):
    doc = run_box(box, "python", "-c", py('''
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(3):
            attempt("sendto", s.sendto, b"sandbox datagram", ("127.0.0.1", UDP_PORT))
    ''', UDP_PORT=listener.udp_port), canary=canary)
    # The datagram goes to the sandbox's own loopback, where nobody listens.
    assert doc["stdout"] in ("sendto: OK\n" * 3, "sendto: OK\nsendto: ECONNREFUSED\nsendto: OK\n",
                             "sendto: ENETUNREACH\n" * 3, "sendto: EACCES\n" * 3,
                             "sendto: EPERM\n" * 3), brief(doc)
    ok(doc, doc["stdout"])
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_abstract_unix_connect_to_host_listener_is_refused(box, canary, listener):
    doc = run_box(box, "python", "-c", py(CONNECT, '''
        connect("abstract", socket.AF_UNIX, b"\\0" + NAME.encode())
    ''', NAME=listener.abstract_name), canary=canary)
    # Abstract names live in the network namespace: the host's is not there
    # (ECONNREFUSED); Landlock's abstract-socket scope would say EPERM.
    assert doc["stdout"] in ("abstract: ECONNREFUSED\n", "abstract: EPERM\n"), brief(doc)
    ok(doc, doc["stdout"])
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_unix_socket_file_of_host_is_not_reachable(box, canary, listener):
    doc = run_box(box, "python", "-c", py(CONNECT, '''
        connect("unix", socket.AF_UNIX, PATH)
    ''', PATH=listener.unix_path), canary=canary)
    ok(doc, "unix: ENOENT\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_server_inside_on_the_host_listeners_port_talks_only_to_itself(box, canary, listener):
    """Binding the very port the host listens on works: it is the sandbox's
    own loopback.  A client inside reaches that server, not the host's."""
    doc = run_box(box, "python", "-c", py('''
        s = socket.socket()
        attempt("bind", s.bind, ("127.0.0.1", PORT))
        s.listen()
        s6 = socket.socket(socket.AF_INET6)
        attempt("bind6", s6.bind, ("::1", PORT6))
        c = socket.create_connection(("127.0.0.1", PORT), 2)
        peer, _ = s.accept()
        c.sendall(b"ping")
        print("inside got", peer.recv(4).decode())
    ''', PORT=listener.port, PORT6=listener.port6), canary=canary)
    ok(doc, "bind: OK\nbind6: OK\ninside got ping\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_raw_and_packet_sockets_are_refused_eperm(box, canary, listener):
    doc = run_box(box, "python", "-c", py('''
        import struct
        attempt("raw icmp", socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s = attempt("raw udp", socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        if s is not None:  # a hand-made datagram to the host listener
            s.sendto(struct.pack("!HHHH", 4242, UDP_PORT, 12, 0) + b"raw!", ("127.0.0.1", 0))
        attempt("packet", socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)
        attempt("packet dgram", socket.socket, socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        attempt("raw ipv6", socket.socket, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    ''', UDP_PORT=listener.udp_port), canary=canary)
    ok(doc, "raw icmp: EPERM\nraw udp: EPERM\npacket: EPERM\npacket dgram: EPERM\n"
            "raw ipv6: EPERM\n")
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_network_interfaces_are_loopback_only(box, canary, listener):
    host_ifaces = sorted(name for _, name in socket.if_nameindex())
    doc = run_box(box, "python", "-c", py('''
        lines = open("/proc/net/dev").read().splitlines()[2:]
        print(sorted(l.split(":")[0].strip() for l in lines))
        attempt("netlink", socket.socket, socket.AF_NETLINK, socket.SOCK_RAW, 0)
        attempt("sysfs", os.listdir, "/sys/class/net")
    '''), canary=canary)
    ok(doc, "['lo']\nnetlink: EPERM\nsysfs: ENOENT\n")
    assert len(host_ifaces) > 1, host_ifaces  # the host does have other interfaces
    for name in host_ifaces:
        if name != "lo":
            assert name not in doc["stdout"]
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_shell_tools_cannot_reach_host_listener(box, canary, listener):
    """The same through a shell: bash's /dev/tcp and python3 in a pipeline."""
    doc = run_box(box, "sh", "-c",
                  f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{listener.port}' 2>&1; echo bash=$?; "
                  f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", "
                  f"{listener.port}), 2)' 2>&1 | tail -n 1", canary=canary)
    assert (doc["status"], doc["_exit"]) == ("success", 0), brief(doc)
    assert doc["stdout"] == (
        "bash: connect: Connection refused\n"
        f"bash: line 1: /dev/tcp/127.0.0.1/{listener.port}: Connection refused\nbash=1\n"
        "ConnectionRefusedError: [Errno 111] Connection refused\n"), brief(doc)
    assert listener.contacts() == []
    canary.assert_untouched(doc)


def test_dns_queries_go_nowhere_in_none_and_restricted(box, canary):
    # A DNS server of the host's own, on 127.0.0.1:53, where a resolver with
    # no configuration sends its queries: the sandbox's lookups and a query
    # sent by hand must not reach it.  (The sandbox has no resolv.conf; its
    # 127.0.0.1 is its own loopback.)
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind(("127.0.0.1", 53))
    except OSError as e:
        raise AssertionError(f"this test needs 127.0.0.1:53 free on the host: {e}")
    dns.setblocking(False)
    query = (bytes.fromhex("abcd01000001000000000000") + b"\x06secret\x04name\x04test\x00"
             + b"\x00\x01\x00\x01")
    try:
        for mode in (("--network", "none"),
                     ("--network", "restricted", "--allow-domain", "secret.name.test")):
            doc = run_box(box, "python", *mode, "-c", py('''
                try:
                    socket.getaddrinfo("secret.name.test", 80)
                    print("lookup: resolved")
                except socket.gaierror:
                    print("lookup: gaierror")
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                attempt("query", s.sendto, QUERY, ("127.0.0.1", 53))
            ''', QUERY=query), canary=canary)
            assert doc["stdout"] in ("lookup: gaierror\nquery: OK\n",
                                     "lookup: gaierror\nquery: ECONNREFUSED\n"), brief(doc)
            ok(doc, doc["stdout"])
            canary.assert_untouched(doc)
        try:
            got = dns.recvfrom(512)
        except BlockingIOError:
            got = None
        assert got is None, f"a DNS query reached the host: {got}"
    finally:
        dns.close()
