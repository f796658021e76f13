"""The accuracy guard that prune and quantize share: when an optimization costs more than
``max_drop`` of the metric, take the most damaging parts out of it (layers kept in float,
channel groups left unpruned), a growing prefix of a ranking, until the drop holds or nothing is
left to take out. Each method brings its ranking and how to rebuild without a prefix."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

K = TypeVar("K")
M = TypeVar("M")


@dataclass
class Backoff(Generic[K, M]):
    model: M  # the last model built (the optimized one if nothing had to be taken out)
    score: float  # its metric
    kept: list[K] = field(default_factory=list)  # the prefix of the ranking taken out

    def holds(self, base: float, max_drop: float) -> bool:
        return base - self.score <= max_drop


def back_off(model: M, score: float, base: float, max_drop: float, ranked: list[K],
             build: Callable[[list[K]], M], metric: Callable[[M], float],
             grow: Callable[[int], int] = lambda n: n + 1,
             on_step: Callable[[list[K], float], None] | None = None) -> Backoff[K, M]:
    """``model`` scored ``score`` against the unoptimized ``base``. While the drop exceeds
    ``max_drop``, rebuild without ``ranked[:n]`` (n = 1, grow(1), ...) and score again."""
    res = Backoff(model, score)
    n = 1
    while not res.holds(base, max_drop) and n <= len(ranked):
        res.kept = list(ranked[:n])
        res.model = build(res.kept)
        res.score = metric(res.model)
        if on_step:
            on_step(res.kept, res.score)
        n = grow(n)
    return res
