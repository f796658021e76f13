"""CPU schedules: TVM 0.27's CPU pipeline applies none, so edgec brings its own."""
from __future__ import annotations

from edgec.targets import Target


def relax_pipeline(target: Target, schedule: str = "default", stats: dict | None = None, knobs_for=None):
    """The Relax pipeline for ``target``: "default" is edgec's kernels and schedules, "nchw" the
    first-generation schedules in the model's own layout, "none" stock TVM (no schedules).
    ``stats`` receives how many kernels each schedule strategy handled."""
    from edgec.compiler.backends import backend_for

    if schedule == "none" or not backend_for(target).edgec_schedules:
        return "default"
    from edgec.compiler.schedules.cpu_pipeline import cpu_pipeline

    return cpu_pipeline(target, stats, knobs_for, schedule)
