"""edgec Target (data) -> tvm.target.Target. The only place that knows TVM's target dict format."""
from __future__ import annotations

import tvm

from edgec.targets import Target


def host_cpu() -> str:
    return tvm.target.codegen.llvm_get_system_cpu()


def resolve(target: Target) -> Target:
    """Fill in what is detected at compile time ('native' CPU of the host)."""
    if target.cpu == "native":
        return Target(**{**target.__dict__, "cpu": host_cpu()})
    return target


def cpu_requirements(target: Target) -> dict:
    """The manifest's ``target.requires``: the architecture and the checkable CPU features the code
    may use -- everything LLVM's -mcpu implies plus the TOML's +features, minus its -features
    (a 'host' artifact built on an AVX-512 machine needs AVX-512). Checked where it is loaded."""
    from edgec.runtime.host import requirements

    cpu = target.host if target.host is not None else resolve(target)  # a GPU target's CPU side
    if cpu is None:
        return {}
    cpu = resolve(cpu)
    implied = set(tvm.target.codegen.llvm_get_cpu_features(tvm.target.Target(llvm_dict(cpu))))
    implied |= {f[1:] for f in cpu.features if f.startswith("+")}
    implied -= {f[1:] for f in cpu.features if f.startswith("-")}
    return requirements(cpu.triple, implied)


def llvm_dict(t: Target) -> dict:
    d: dict = {"kind": "llvm", "mtriple": t.triple}
    if t.cpu:
        d["mcpu"] = t.cpu
    if t.features:
        d["mattr"] = list(t.features)
    if t.cores:
        d["num-cores"] = t.cores
    if t.float_abi:
        d["mfloat-abi"] = t.float_abi
    if t.abi:
        d["mabi"] = t.abi
    return d


def to_tvm(t: Target) -> "tvm.target.Target":
    from edgec.compiler.backends import backend_for

    b = backend_for(t)
    return b.call(b.tvm_target, resolve(t))


def llvm_target(t: Target) -> "tvm.target.Target":
    return tvm.target.Target(llvm_dict(t))


def cuda_target(t: Target) -> "tvm.target.Target":
    host = llvm_dict(t.host) if t.host else {"kind": "llvm"}
    return tvm.target.Target({"kind": "cuda", "arch": t.arch}, host=host)
