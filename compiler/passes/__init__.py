"""Graph passes; importing this package registers them all."""
from edgec.compiler.passes import (  # noqa: F401 - importing registers the passes
    bitcast_det, bool_reductions, col2im_matmul, compress_to_gather, converter_forms, convtranspose_to_conv, cumprod_scan, dft_matmul, div_by_zero, exotic_dtypes,
    expand_functions, fix_input_shapes, index_ops,
    fold_batchnorm, fold_constants, hyperbolic_to_exp, infer_shapes, inline_if, lower_recurrent, lp_normalization,
    normalize_axes, pin_input_values, propagate_nan, qoperator_to_qdq, remove_identity, resize_axes, simplify_split,
    unroll_loops, loop_bodies)
from edgec.compiler.passes.registry import PassContext, PassReport, available_passes, get_pass, register, run_pipeline

# Clean-up that makes real exports import into TVM; runs before any optimization.
# expand_functions needs the inputs' types (after infer_shapes) and leaves shape arithmetic to fold.
CLEANUP = ["qoperator_to_qdq", "pin_input_values", "fix_input_shapes", "infer_shapes", "exotic_dtypes", "expand_functions", "fold_constants",
           "unroll_loops", "loop_bodies", "lower_recurrent", "cumprod_scan", "dft_matmul", "col2im_matmul", "index_ops", "converter_forms", "bitcast_det", "hyperbolic_to_exp", "bool_reductions", "resize_axes", "lp_normalization",
           "compress_to_gather", "normalize_axes", "simplify_split", "remove_identity", "infer_shapes"]
# Default graph optimizations (fusion, folding) on top of the clean-up.
DEFAULT_PIPELINE = CLEANUP + ["fold_batchnorm", "convtranspose_to_conv", "fold_constants", "div_by_zero", "infer_shapes"]

__all__ = ["CLEANUP", "DEFAULT_PIPELINE", "PassContext", "PassReport", "available_passes", "get_pass",
           "register", "run_pipeline"]
