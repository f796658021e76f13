"""The "rpc" family of tools/fuzz.py: hostile clients of edgec-rpc-server.

One server (from the fuzz base bundle) runs for the whole fuzz run, with short handshake and idle
timeouts. A case is a plan (JSON, kept in failure reports) of what one client does: a mangled
handshake (magic, key length, key bytes, cut short, silent), garbage after a valid handshake
(into libtvm_runtime's RPC loop), or a real TVM client asking for file names that leave the
server's folder, loading a file that is not a library, and the like. After every case a good
client must still be served within seconds, and nothing may appear outside the server's folder.
A session that dies of a signal is contained by the server's child process and only counted.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

RPC_MAGIC = 0xFF271
KEY = "edgec"
BAD_NAMES = ["../escape-{id}", "../../tmp/escape-{id}", "/tmp/escape-{id}", "a/../../escape-{id}", "..", ".", "",
             "x\\..\\..\\escape-{id}", "sub/escape-{id}", "x" * 300, "nul\x00escape-{id}", "~/escape-{id}"]


def make_plan(r: random.Random, case_id: int) -> dict:
    kind = r.choices(["handshake", "garbage", "client"], weights=[4, 3, 3])[0]
    plan: dict = {"kind": kind, "id": case_id}
    if kind == "handshake":
        plan["magic"] = r.choice([RPC_MAGIC, RPC_MAGIC, RPC_MAGIC + 1, 0, -1, 0x2F271, r.randrange(-2**31, 2**31)])
        key = r.choice([f"client:{KEY}", f"client:{KEY} -timeout=5", f"client:{KEY} -timeout=x", "client:wrong",
                        f"server:{KEY}", "", "client:", f"client:{KEY}" + "A" * 5000, "\udcff\udcfe"])
        plan["key"] = key
        plan["keylen"] = r.choice([None, None, -1, 0, 4096, 4097, 2**31 - 1, len(key.encode('utf-8', 'surrogateescape')) + 3])
        plan["cut"] = r.choice([None, None, r.randrange(0, 12)])  # bytes sent before closing
        plan["then"] = r.choice(["close", "close", "silent", "reset"])
    elif kind == "garbage":
        plan["chunks"] = [r.choice([r.randbytes(r.randrange(1, 64)), struct.pack("<q", r.choice([-1, 0, 8, 2**62, 2**40])),
                                    struct.pack("<qi", r.randrange(0, 64), r.randrange(-5, 20))]).hex()
                          for _ in range(r.randrange(1, 6))]
        plan["then"] = r.choice(["close", "reset", "wait"])
    else:
        plan["op"] = r.choice(["upload", "download", "remove", "load_module", "load_text", "listdir"])
        plan["name"] = r.choice(BAD_NAMES + ["fine.bin"])
    return plan


class RpcTarget:
    """The server under test and the good client that checks on it."""

    def __init__(self, bundle: Path, out: Path) -> None:
        self.bundle, self.out = bundle, out
        self.proc = None
        self.err = out / "rpc-server.log"
        self.signals = 0

    def start(self) -> None:
        self.stop()
        self.errf = open(self.err, "a")
        self.proc = subprocess.Popen([str(self.bundle / "edgec-rpc-server"), "--port", "0", "--key", KEY,
                                      "--handshake-timeout", "2", "--idle-timeout", "3"], cwd=self.bundle,
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def run(self, plan: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        escapes = [d / f"escape-{plan['id']}" for d in (Path("/tmp"), self.bundle, self.bundle.parent)]
        try:
            getattr(self, f"_{plan['kind']}")(plan)
        except OSError:
            pass  # the server hung up on us: that is its right
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.proc = None
            return {"rc": "crash", "err": f"edgec-rpc-server died: exit {rc}"}
        ok, why = self._healthy()
        if not ok:
            self.stop()
            return {"rc": "hang", "err": f"edgec-rpc-server stopped serving a good client: {why}"}
        out = [str(p) for p in escapes if p.exists()]
        for p in escapes:
            p.unlink(missing_ok=True)
        if out:
            return {"rc": 70, "err": f"internal error: a client wrote outside the server's folder: {out}"}
        return {"rc": 0, "err": ""}

    # what a hostile client does -----------------------------------------------------------------
    def _sock(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def _handshake(self, plan: dict) -> None:
        key = plan["key"].encode("utf-8", "surrogateescape")
        keylen = len(key) if plan["keylen"] is None else plan["keylen"]
        data = struct.pack("<i", plan["magic"] if plan["magic"] < 2**31 else plan["magic"] - 2**32)
        data += struct.pack("<i", keylen) + key
        if plan["cut"] is not None:
            data = data[:plan["cut"]]
        s = self._sock()
        s.sendall(data)
        self._then(s, plan["then"])

    def _garbage(self, plan: dict) -> None:
        s = self._sock()
        key = f"client:{KEY}".encode()
        s.sendall(struct.pack("<ii", RPC_MAGIC, len(key)) + key)
        s.recv(64)
        for chunk in plan["chunks"]:
            s.sendall(bytes.fromhex(chunk))
        self._then(s, plan["then"])

    def _then(self, s: socket.socket, then: str) -> None:
        if then == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif then in ("silent", "wait"):
            time.sleep(0.5)  # still open while the good client knocks (the server's timeouts must cope)
        s.close()

    def _client(self, plan: dict) -> None:
        from tvm import rpc

        name = plan["name"].replace("{id}", str(plan["id"]))
        remote = rpc.connect("127.0.0.1", self.port, key=KEY, session_timeout=20)
        try:
            if plan["op"] == "upload":
                remote.upload(bytearray(b"x" * 16), target=name)
            elif plan["op"] == "download":
                remote.download(name)
            elif plan["op"] == "remove":
                remote.remove(name)
            elif plan["op"] == "listdir":
                remote.listdir(name)
            elif plan["op"] == "load_text":  # a file that is not a library, under its own name
                remote.upload(bytearray(b"\x7fELF not really" * 8), target="t.so")
                remote.load_module("t.so")
            else:
                remote.load_module(name)
        except Exception:  # noqa: BLE001 - refusals arrive as TVM errors: expected
            pass
        finally:
            del remote

    def _healthy(self) -> tuple[bool, str]:
        from tvm import rpc

        t0 = time.time()
        last = ""
        while time.time() - t0 < 20:  # a silent client holds the server for --handshake-timeout at most
            try:
                remote = rpc.connect("127.0.0.1", self.port, key=KEY, session_timeout=20)
                remote.upload(bytearray(b"ok"), target="health.txt")
                good = bytes(remote.download("health.txt")) == b"ok"
                del remote
                return good, "download differed"
            except Exception as e:  # noqa: BLE001
                last = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
                time.sleep(0.3)
        return False, last

    def session_signals(self) -> int:
        try:
            return self.err.read_text(errors="replace").count("session ended by signal")
        except OSError:
            return 0
