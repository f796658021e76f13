"""Sessions on remote devices through TVM RPC: one named server (`--rpc HOST:PORT`) or a device
pool behind TVM's RPC tracker (`--tracker HOST:PORT`, `python -m tvm.exec.rpc_tracker`), where
servers register under a device kind (`edgec-rpc-server --tracker T --key rpi4`) and the tracker
hands out a free one. Used by `edgec bench` and `edgec tune`; TVM's own errors become EdgecErrors.
"""
from __future__ import annotations

import socket

from edgec.errors import EdgecError, UserInputError

SESSION_TIMEOUT_S = 600
HINT = ("start ./edgec-rpc-server from the device bundle (with --tracker HOST:PORT --key KIND for a pool), "
        "and check the address and key")


def split_address(hp: str) -> tuple[str, int]:
    host, _, port = str(hp).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserInputError(f"expected HOST:PORT, got {hp!r}")
    return host, int(port)


def _last_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return (lines[-1] if lines else type(e).__name__)[:200]


def connect(rpc: str | None = None, tracker: str | None = None, key: str = "edgec"):
    """One RPC session: on the server at ``rpc``, or on a device of kind ``key`` from the tracker
    at ``tracker`` (waits while all of them are busy)."""
    if tracker:
        return pool(tracker, key, 1)[0]
    from tvm import rpc as tvm_rpc

    try:
        return tvm_rpc.connect(*split_address(rpc), key=key, session_timeout=SESSION_TIMEOUT_S)
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - TVM raises InternalError/TVMError/RuntimeError for socket failures
        raise EdgecError(f"cannot reach the RPC server at {rpc} (key {key!r}): {_last_line(e)}", hint=HINT) from None


def pool(tracker: str, key: str, most: int) -> list:
    """Sessions on up to ``most`` devices of kind ``key`` that the tracker has free now (at least
    one: waits for it while all are busy). A kind the tracker has never seen is an error, not a
    wait forever."""
    from tvm import rpc as tvm_rpc

    where = split_address(tracker)
    try:
        socket.create_connection(where, timeout=10).close()  # TVM's client retries a refused address for 60 s
        info = tvm_rpc.connect_tracker(*where).summary()
    except Exception as e:  # noqa: BLE001 - see connect()
        raise EdgecError(f"cannot reach the RPC tracker at {tracker}: {_last_line(e)}",
                         hint="start one: python -m tvm.exec.rpc_tracker --host 127.0.0.1 --port PORT") from None
    queues = info.get("queue_info", {})
    if key not in queues and not _registered(info, key):
        raise EdgecError(f"the RPC tracker at {tracker} has no device of kind {key!r} "
                         f"(it has {sorted(queues) or 'none'})", hint=HINT)
    sessions = []
    for _ in range(max(1, min(most, int(queues.get(key, {}).get("free", 0))))):
        try:
            sessions.append(tvm_rpc.connect_tracker(*where).request(key, session_timeout=SESSION_TIMEOUT_S))
        except Exception as e:  # noqa: BLE001 - see connect()
            if sessions:  # taken by someone else meanwhile: work with what we have
                break
            raise EdgecError(f"the RPC tracker at {tracker} gave no usable device of kind {key!r}: {_last_line(e)}",
                             hint=HINT) from None
    return sessions


def _registered(info: dict, key: str) -> bool:
    return any(s.get("key") == f"server:{key}" for s in info.get("server_info", []))


def run_remote(what: str, fn):
    """Call ``fn()`` (uploading, loading, running on the device); a failure there is the device's
    (EdgecError naming ``what``), not a traceback."""
    try:
        return fn()
    except EdgecError:
        raise
    except Exception as e:  # noqa: BLE001 - TVM relays the device's error as its own exception types
        raise EdgecError(f"{what} failed on the RPC device: {_last_line(e)}",
                         hint="does the device's architecture match the target? (edgec-rpc-server --key KIND)") from None
