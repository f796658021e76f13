"""The bookkeeping every edgec schedule rule shares: a ``stats`` dict the build reports in the
manifest (kernels per strategy, the first few errors), so a compile can say how much of a model
got a fast path and a test can check that the path it means really ran."""
from __future__ import annotations

from tvm.s_tir.dlight.base import ScheduleRule

MAX_ERRORS = 5


class CountingRule(ScheduleRule):
    def __init__(self, stats: dict | None = None) -> None:
        self.stats = stats if stats is not None else {}

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    def note_error(self, where: str, error: Exception) -> None:
        """Keep the last line of the first MAX_ERRORS errors (a rule that fails hands the kernel
        to the next rule; the note says why)."""
        errors = self.stats.setdefault("errors", [])
        if len(errors) < MAX_ERRORS:
            errors.append(f"{where}: {str(error).strip().splitlines()[-1][:300]}")
