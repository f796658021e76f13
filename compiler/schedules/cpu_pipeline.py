"""edgec's CPU Relax pipeline (placeholder: stock until the schedule rules land)."""
from __future__ import annotations

from edgec.targets import Target


def cpu_pipeline(target: Target):
    return "default"
