"""The prune methods by name. Adding one: a file with ``fn(model, PruneOptions, calib, metric,
verbose) -> PruneResult``, an entry here, a test in tests/compiler/test_prune.py."""
from __future__ import annotations

from edgec.compiler.prune import PruneOptions
from edgec.compiler.registry import Entry, Registry

METHODS = Registry("pruning method", "--method / --prune METHOD:AMOUNT")
METHODS.add(Entry("channels", PruneOptions, "edgec.compiler.prune.channels:prune_channels",
                  "remove whole channels (structured: really faster), refit the next layers"))
METHODS.add(Entry("magnitude", PruneOptions, "edgec.compiler.prune.magnitude:prune_magnitude",
                  "zero the smallest weights (smaller when compressed, not faster without sparse kernels)"))
