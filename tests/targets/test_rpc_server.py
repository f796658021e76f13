"""edgec-rpc-server is safe to leave running (issue 13): loopback unless asked, a key checked in
TVM's handshake, uploads confined to its own folder, and neither a killed nor a silent client
takes it down or holds it; its folder is gone after SIGTERM."""
import glob
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

import edgec
from edgec.models.tiny import tiny_mlp

RPC_MAGIC = 0xFF271


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from edgec.bundle import package

    d = tmp_path_factory.mktemp("rpc")
    art = edgec.compile(tiny_mlp(), out=d / "art", runtime="vm")  # a VM bundle: it carries edgec-rpc-server
    return package(art, d / "bundle", quiet=True).path


class Server:
    def __init__(self, bundle, *args):
        self.proc = subprocess.Popen([str(bundle / "edgec-rpc-server"), "--port", "0", *args], cwd=bundle,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, self.proc.stderr.read()
        self.line = line
        hostport = line.split("listening on ")[1].split()[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.key = line.strip().split("key=")[1]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def server(bundle):
    started = []

    def start(*args):
        s = Server(bundle, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _connect(port, key="edgec"):
    from tvm import rpc

    return rpc.connect("127.0.0.1", port, key=key, session_timeout=60)


def _works(port, key="edgec") -> bool:
    remote = _connect(port, key)
    remote.upload(bytearray(b"hello"), target="ok.txt")
    ok = bytes(remote.download("ok.txt")) == b"hello"
    del remote
    return ok


def _listening_addresses(port: int) -> set[str]:
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return {r[1].split(":")[0] for r in rows if int(r[1].split(":")[1], 16) == port and r[3] == "0A"}


def _network_address() -> str | None:
    """This machine's first non-loopback IPv4 address (SIOCGIFADDR), or None."""
    import fcntl

    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
        addr = socket.inet_ntoa(raw[20:24])
        if not addr.startswith("127."):
            return addr
    return None


def _reachable(addr: str, port: int) -> bool:
    try:
        socket.create_connection((addr, port), timeout=5).close()
        return True
    except OSError:
        return False


def test_binds_loopback_by_default_and_warns_when_exposed(server):
    s = server()
    assert s.host == "127.0.0.1" and _listening_addresses(s.port) == {"0100007F"}
    assert s.key == "edgec"
    exposed = server("--host", "0.0.0.0")
    assert len(exposed.key) == 24  # no --key on a network address: a random one, printed
    assert _works(exposed.port, exposed.key)
    net = _network_address()
    if net:  # from this machine's network address: only the server that was asked to listen there
        assert not _reachable(net, s.port)
        assert _reachable(net, exposed.port)
    err = exposed.stop()
    assert "reachable from the network" in err, err


def test_refuses_a_client_without_the_key(server):
    s = server("--key", "s3cret")
    with pytest.raises(Exception, match="cannot find server that matches key"):
        _connect(s.port, "edgec")
    assert _works(s.port, "s3cret")  # and still serves the right one
    assert s.key == "(as given)"


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/edgec-rpc-escape.txt", "a/b.txt", "..", "x\\..\\..\\escape.txt"])
def test_uploads_stay_in_the_servers_folder(server, tmp_path, name):
    s = server()
    before = set(glob.glob("/tmp/edgec-rpc-escape.txt")) | set(glob.glob("/tmp/escape.txt"))
    remote = _connect(s.port)
    with pytest.raises(Exception, match="refuses the file name"):
        remote.upload(bytearray(b"x"), target=name)
    with pytest.raises(Exception, match="refuses the file name"):
        remote.download(name)
    remote.upload(bytearray(b"fine"), target="fine.txt")  # the session goes on
    assert bytes(remote.download("fine.txt")) == b"fine"
    after = set(glob.glob("/tmp/edgec-rpc-escape.txt")) | set(glob.glob("/tmp/escape.txt"))
    assert after == before


KILLED_CLIENT = r"""
import sys, time
from tvm import rpc
r = rpc.connect("127.0.0.1", int(sys.argv[1]), key="edgec", session_timeout=60)
r.upload(bytearray(100000), target="big.bin")
print("connected", flush=True)
time.sleep(60)
"""


def test_survives_a_killed_client_and_a_silent_one(server):
    s = server("--handshake-timeout", "1", "--idle-timeout", "2")
    child = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, str(s.port)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "connected"
    child.kill()
    child.wait()
    half = socket.create_connection(("127.0.0.1", s.port))  # half a handshake, then gone
    half.sendall(struct.pack("<i", RPC_MAGIC))
    half.close()
    silent = socket.create_connection(("127.0.0.1", s.port))  # connects, never speaks
    t0 = time.time()
    assert _works(s.port)
    assert time.time() - t0 < 15
    assert s.proc.poll() is None
    silent.close()
    idle = _connect(s.port)  # authenticated, then idle past --idle-timeout: the session ends
    time.sleep(3)
    assert _works(s.port)
    del idle


def test_work_folder_is_removed_on_sigterm(server):
    before = set(glob.glob("/tmp/edgec-rpc-*"))
    s = server()
    assert _works(s.port)
    mine = set(glob.glob("/tmp/edgec-rpc-*")) - before
    assert len(mine) == 1
    for _ in range(50):  # emptied once the session has ended
        if not os.listdir(next(iter(mine))):
            break
        time.sleep(0.1)
    assert not os.listdir(next(iter(mine)))
    s.stop()
    assert not (set(glob.glob("/tmp/edgec-rpc-*")) & mine)


def test_a_killed_servers_folder_is_removed_by_the_next_server(server):
    before = set(glob.glob("/tmp/edgec-rpc-*"))
    s = server()
    mine = set(glob.glob("/tmp/edgec-rpc-*")) - before
    assert len(mine) == 1 and f"-{s.proc.pid}-" in next(iter(mine))  # named after its server
    s.proc.kill()  # SIGKILL: no chance to clean up
    s.proc.wait()
    assert all(os.path.isdir(p) for p in mine)
    server()
    assert not any(os.path.exists(p) for p in mine)
