"""Run a cross-compiled artifact under qemu-user (filled in by the device-bundle work)."""
from __future__ import annotations

from edgec.errors import ToolchainError


def run_emulated(artifact, feeds: dict) -> dict:
    raise ToolchainError(f"emulated runs of {artifact.manifest.target.get('name')} artifacts are not available yet")
