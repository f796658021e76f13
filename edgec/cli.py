"""The `edgec` command line: thin wrappers over the library API; errors map to exit codes here."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from edgec.compiler.options import SCHEDULES
from edgec.compiler.prune import CRITERIA, SCOPES
from edgec.compiler.prune.methods import METHODS as PRUNE_METHODS
from edgec.compiler.quantize.options import ACTIVATION_TYPES, CALIBRATION_METHODS
from edgec.compiler.quantize.schemes import SCHEMES
from edgec.errors import EdgecError, UserInputError

INTERNAL_ERROR = 70


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _parse_shapes(values: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for v in values:
        name, sep, dims = v.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.replace("x", ",").split(","))
            if any(d <= 0 for d in shapes[name]):
                raise ValueError
        except ValueError:
            raise UserInputError(f"bad --input-shape {v!r}; expected NAME=D1,D2,... with positive integers, e.g. x=1,3,48,192") from None
    return shapes


def _parse_values(values: tuple[str, ...]) -> dict[str, list]:
    """--input-value NAME=V or NAME=V1,V2,... (numbers; true/false for booleans)."""
    def number(text: str):
        t = text.strip().lower()
        if t in ("true", "false"):
            return t == "true"
        return float(t) if any(c in t for c in ".en") else int(t)

    out = {}
    for v in values:
        name, sep, text = v.partition("=")
        try:
            if not sep or not name or not text:
                raise ValueError
            items = [number(x) for x in text.split(",")]
        except ValueError:
            raise UserInputError(f"bad --input-value {v!r}; expected NAME=V or NAME=V1,V2,... with numbers, "
                                 "e.g. sr=16000") from None
        out[name] = items[0] if len(items) == 1 else items
    return out


def _load_npz(path: str, specs: list) -> dict:
    """Inputs from an .npz (one array per input name) or an .npy (a model with one input)."""
    from edgec.runtime.files import load_arrays

    loaded = load_arrays(path, "inputs file")
    if isinstance(loaded, dict):
        return loaded
    if len(specs) != 1:
        raise UserInputError(f"{path} holds one array but the model takes {len(specs)} inputs",
                             hint="use an .npz with one array per input name")
    return {specs[0].name: loaded}


def _quiet_if_set(ctx, param, value):
    """--json and a subcommand's -q: warnings and errors only on stderr (stdout stays clean)."""
    if value:
        from edgec import cli_output

        cli_output.quiet()
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgec")
@click.option("-v", "--verbose", count=True, help="more detail (log level DEBUG)")
@click.option("-q", "--quiet", is_flag=True, help="warnings and errors only (log level WARNING)")
def cli(verbose, quiet) -> None:
    """edgec: compile ONNX/TFLite models with Apache TVM for edge CPUs and GPUs, run them, and
    check them against ONNX Runtime / LiteRT.

    \b
    Typical flow:
      edgec models fetch ppocr-cls
      edgec compile ppocr-cls -t host -o out/
      edgec verify out/
      edgec run out/ --inputs in.npz --outputs res.npz
    """
    from edgec import cli_output

    cli_output.setup(verbose, quiet)


@cli.command("compile")
@click.argument("model")
@click.option("-t", "--target", default="host", show_default=True, help="target name (see `edgec targets`) or a .toml file")
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="artifact directory to write")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,..",
              help="pin an input's shape (repeatable); needed for dynamic ONNX inputs")
@click.option("--input-value", "input_value", multiple=True, metavar="NAME=V[,V..]",
              help="pin an input's value (repeatable): it becomes a constant, e.g. a mode selector sr=16000 "
                   "or an op's axes; the artifact no longer takes it")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="default", show_default=True,
              help="'none' uses stock TVM lowering without edgec's CPU schedules (slow; for comparison); "
                   "'nchw' edgec's first-generation schedules in the model's own layout")
@click.option("--pipeline", default=None,
              help="comma-separated graph passes (default: the standard pipeline); '+a,b' appends passes to "
                   "the standard pipeline, e.g. '+propagate_nan' for ONNX Runtime's NaN semantics")
@click.option("--tuning-db", default=None, type=click.Path(path_type=Path),
              help="schedule knobs from `edgec tune` (default: the database shipped for the target, if any)")
@click.option("--untuned", is_flag=True, help="ignore any tuning database, shipped ones included")
@click.option("--prune", default=None, metavar="METHOD:AMOUNT",
              help=f"prune first ({', '.join(PRUNE_METHODS.names())}): channels:0.3 or magnitude:0.5")
@click.option("--quantize", type=click.Choice(SCHEMES.names()), default=None,
              help="quantize first (int8 needs --calib); see `edgec quantize --help`")
@click.option("--calib", default=None, help="calibration data for --prune/--quantize (see `edgec prune --help`)")
@click.option("--speed-guard/--no-speed-guard", default=None,
              help="int8: time every int8 layer against float here and keep the faster "
                   "[default: on when compiling for this machine, off for cross targets]")
@click.option("--drop-fake-quant", is_flag=True,
              help="int8: also skip the rounding in front of float convs and products; faster on small "
                   "models, accuracy depends on the model (check it: tools/quant_eval.py)")
@click.option("--runtime", type=click.Choice(["auto", "micro", "vm"]), default=None,
              help="'micro': edgec's own C runtime (a static plan of kernel calls, no TVM runtime; "
                   "docs/micro-runtime.md); 'auto': micro where the plan can express the model, else TVM's VM "
                   "[default: auto; 'vm' for TVM's runtime, whose bundles carry the RPC server]")
@click.option("--force", is_flag=True, help="replace an existing edgec artifact at --out")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set, help="print the manifest as JSON")
@click.option("-q", "--quiet", is_flag=True, callback=_quiet_if_set, help="no progress messages")
def compile_cmd(model, target, out, input_shape, input_value, schedule, pipeline, tuning_db, untuned, prune, quantize, calib, speed_guard,
                drop_fake_quant, runtime, force,
                as_json, quiet) -> None:
    """Compile MODEL (a .onnx/.tflite file or a zoo name) into an artifact directory."""
    import edgec

    art = edgec.compile(model, target=target, out=out, input_shapes=_parse_shapes(input_shape),
                        input_values=_parse_values(input_value),
                        pipeline=_pipeline(pipeline), schedule=schedule, force=force,
                        tuning_db=False if untuned else tuning_db, prune=prune, quantize=quantize, calib=calib,
                        speed_guard=speed_guard, drop_fake_quant=drop_fake_quant, runtime=runtime,
                        verbose=not quiet)
    if as_json:
        _echo_json(edgec.inspect(art.path)["manifest"] | {"path": str(art.path)})
        return
    m = art.manifest
    click.echo(f"compiled for {m.target['name']} ({m.target.get('triple') or m.target.get('arch')}) -> {art.path}/{m.library}")
    for t in m.inputs:
        click.echo(f"  input  {t.name}: {t.dtype}{list(t.shape)}")
    for t in m.outputs:
        click.echo(f"  output {t.name}: {t.dtype}{list(t.shape)}")


def _pipeline(text: str | None) -> list[str] | None:
    """--pipeline: a comma-separated list, or '+a,b' for the standard pipeline plus a and b."""
    if not text:
        return None
    names = [n.strip() for n in text.lstrip("+").split(",") if n.strip()]
    if text.startswith("+"):
        from edgec.compiler.passes import DEFAULT_PIPELINE

        return list(DEFAULT_PIPELINE) + names
    return names


def _parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    t = text.strip().lower()
    try:
        return float(t[:-1]) * units[t[-1]] if t[-1] in units else float(t)
    except (ValueError, IndexError):
        raise UserInputError(f"bad duration {text!r}; use e.g. 90s, 20m or 1h") from None


@cli.command("tune")
@click.argument("model")
@click.option("-t", "--target", default="host", show_default=True,
              help="target to tune for (runs here, or on the devices given by --rpc/--tracker)")
@click.option("--budget", default="20m", show_default=True, help="time budget, e.g. 90s, 20m, 1h")
@click.option("--db", "db", default="tuning.json", show_default=True, type=click.Path(path_type=Path),
              help="tuning database (JSON) to create or extend")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,..")
@click.option("--rpc", default=None, metavar="HOST:PORT", help="measure on a device running edgec-rpc-server")
@click.option("--tracker", default=None, metavar="HOST:PORT",
              help="measure on every free device of kind --key behind a TVM RPC tracker, in parallel")
@click.option("--key", default=None, help="device key: the server's for --rpc (default edgec), the device kind "
              "for --tracker (default: the target's name)")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set, help="print a summary as JSON")
def tune_cmd(model, target, budget, db, input_shape, rpc, tracker, key, as_json) -> None:
    """Search schedule knobs per kernel within a time budget, measured here or on devices over RPC;
    write a database that `edgec compile --tuning-db` reuses (records are shared by every model
    with the same kernels)."""
    import edgec

    if rpc and tracker:
        raise UserInputError("give --rpc or --tracker, not both")
    res = edgec.tune(model, target, db, _parse_duration(budget), input_shapes=_parse_shapes(input_shape),
                     verbose=not as_json, rpc=rpc, tracker=tracker, key=key)
    recs = list(res.records.values())
    gain = sum(r.default_us for r in recs) / max(sum(r.best_us for r in recs), 1e-9) if recs else 1.0
    summary = {"db": str(db), "records": len(recs), "kernel_time_speedup": round(gain, 3)}
    if as_json:
        _echo_json(summary)
    else:
        click.echo(f"{db}: {len(recs)} tuned kernels; their summed time improves {gain:.2f}x over the defaults")


@cli.command("run")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--inputs", "inputs", default=None, help=".npz with one array per input name (.npy for one input); random if omitted")
@click.option("--outputs", "outputs", default=None, type=click.Path(path_type=Path), help="write outputs to this .npz")
@click.option("--repeat", default=0, show_default=True, type=click.IntRange(0, 1_000_000),
              help="also time this many runs (after 3 warm-up runs)")
@click.option("--threads", type=click.IntRange(1, 1024), default=None, envvar="EDGEC_NUM_THREADS",
              help="worker threads (default: TVM's choice)")
@click.option("--emulate", is_flag=True, help="run a cross-compiled artifact under qemu-user")
@click.option("--force", is_flag=True, help="overwrite --outputs if it exists")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set, help="print a JSON summary")
def run_cmd(artifact, inputs, outputs, repeat, threads, emulate, force, as_json) -> None:
    """Run a compiled ARTIFACT on inputs and print or save its outputs."""
    import numpy as np

    from edgec.runtime.artifact import Artifact
    from edgec.verification import default_inputs

    if outputs is not None:  # checked before running: a result with nowhere to go is an error now
        if outputs.exists() and not force:
            raise UserInputError(f"{outputs} exists; pass --force to overwrite it")
        if outputs.is_dir() or not outputs.parent.is_dir():
            raise UserInputError(f"cannot write outputs to {outputs}: "
                                 + ("it is a folder" if outputs.is_dir() else f"{outputs.parent} is not a folder"),
                                 hint="--outputs names an .npz file in an existing folder")
        if not os.access(outputs.parent, os.W_OK):
            raise UserInputError(f"cannot write outputs to {outputs}: {outputs.parent} is not writable")
    art = Artifact.open(artifact)
    feeds = _load_npz(inputs, art.manifest.inputs) if inputs else default_inputs(art)
    from edgec.runners import runner_for

    runner = runner_for(art, threads=threads, emulate=emulate)
    res = runner.run(feeds, repeat=0 if runner.where.startswith("emulated") else repeat)
    result, ran_on, times = res.outputs, "emulated" if res.emulated else "host", res.times_s
    if outputs is not None:
        try:
            np.savez(outputs, **result)
        except OSError as e:
            raise UserInputError(f"cannot write outputs to {outputs}: {e.strerror or e}") from None
    summary = {"artifact": str(artifact), "ran_on": ran_on,
               "outputs": {k: _stats(v) for k, v in result.items()}}
    if times:
        summary["latency_ms"] = {"median": 1e3 * float(np.median(times)), "min": 1e3 * float(np.min(times)),
                                 "runs": len(times)}
    if as_json:
        _echo_json(summary)
        return
    for k, v in summary["outputs"].items():
        vals = "  (empty)" if v["mean"] is None else f"  min {v['min']:.4g}  mean {v['mean']:.4g}  max {v['max']:.4g}"
        click.echo(f"{k}: {v['dtype']}{v['shape']}{vals}")
    if times:
        click.echo(f"latency: median {summary['latency_ms']['median']:.2f} ms, min {summary['latency_ms']['min']:.2f} ms over {len(times)} runs ({ran_on})")
    if outputs is not None:
        click.echo(f"outputs written to {outputs}")


def _stats(v) -> dict:
    """shape, dtype and min/mean/max of an output (None for an empty one; NaN-aware)."""
    import numpy as np

    d = {"shape": list(v.shape), "dtype": str(v.dtype), "mean": None, "min": None, "max": None}
    if v.size:
        f = np.asarray(v, dtype=np.float64)
        d |= {"mean": float(np.mean(f)), "min": float(np.min(f)), "max": float(np.max(f))}
    return d


@cli.command("verify")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="source model (default: the one recorded in the manifest)")
@click.option("--inputs", "inputs", default=None, help=".npz inputs (default: random in the model's input range)")
@click.option("--tolerance", type=float, default=None,
              help="max relative-L2 error of every output [default: 1e-4; int8 (QDQ) models: 4 quantization "
                   "steps max-abs on quantized outputs, rel-L2 0.5 on others, see docs/optimize.md]")
@click.option("--seed", default=0, show_default=True)
@click.option("--emulate", is_flag=True, help="run under qemu-user (automatic for cross-compiled artifacts)")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set, help="print one JSON object (max_abs_error, rel_l2_error, passed...)")
def verify_cmd(artifact, model, inputs, tolerance, seed, emulate, as_json) -> None:
    """Run ARTIFACT and the reference runtime (ONNX Runtime / LiteRT) on the same inputs and compare.

    Exits 0 when every output is within its tolerance, 8 otherwise."""
    import edgec

    from edgec.runtime.artifact import Artifact

    art = Artifact.open(artifact)
    feeds = _load_npz(inputs, art.manifest.inputs) if inputs else None
    res = edgec.verify(art, model, inputs=feeds, seed=seed, tolerance=tolerance, emulate=emulate)
    if as_json:
        _echo_json(res.to_dict())
    else:
        for o in res.outputs:
            gate = (f"max-abs <= {o.tolerance_max_abs:.3g}" if o.tolerance_max_abs is not None
                    else f"rel-L2 <= {o.tolerance_rel_l2:g}")
            bad = f", NaN/inf at {o.nonfinite_mismatches} other position(s)" if o.nonfinite_mismatches else ""
            click.echo(f"{o.name}: max-abs {o.max_abs_error:.3e}  rel-L2 {o.rel_l2_error:.3e}  "
                       f"({'ok' if o.passed else 'FAILED'}: {gate}{bad})")
        click.echo(f"{'PASSED' if res.passed else 'FAILED'} vs {res.reference} (ran on {res.ran_on}; "
                   f"worst rel-L2 {res.rel_l2_error:.3e})")
    if not res.passed:
        sys.exit(8)


@cli.command("inspect")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def inspect_cmd(path, as_json) -> None:
    """Show a model's inputs/outputs, op histogram and parameter size, or an artifact's manifest."""
    import edgec

    info = edgec.inspect(path)
    if as_json:
        _echo_json(info)
        return
    if info["kind"] == "artifact":
        m = info["manifest"]
        click.echo(f"artifact {info['path']} ({info['bytes'] / 1e6:.2f} MB), schema {m['schema_version']}, "
                   f"target {m['target']['name']}, edgec {m['versions'].get('edgec')}, tvm {m['versions'].get('tvm')}")
        for t in m["inputs"]:
            click.echo(f"  input  {t['name']}: {t['dtype']}{t['shape']}")
        for t in m["outputs"]:
            click.echo(f"  output {t['name']}: {t['dtype']}{t['shape']}")
        click.echo(f"  source {m['source_model'].get('zoo') or m['source_model'].get('path')} sha256 {m['source_model']['sha256'][:16]}...")
        from edgec.runtime.host import required

        need = required(m["target"])
        if need:
            click.echo(f"  needs  {need['machine']} CPU with {', '.join(need['cpu_features']) or 'no extra features'} "
                       "(checked where it is loaded)")
        opts = m["compile_options"]
        if opts.get("weight_bytes") is not None:
            click.echo(f"  weights {opts['weight_bytes'] / 1e6:.2f} MB")
        micro = opts.get("micro")
        if micro:
            click.echo(f"  runtime micro: arena {micro['arena_bytes'] / 1e3:.1f} KB (peak activations), workspace "
                       f"{micro['workspace_bytes'] / 1e3:.1f} KB/thread, weights {micro['weights_bytes'] / 1e3:.1f} KB, "
                       f"kernels+plan {(micro['library_bytes'] - micro['weights_bytes']) / 1e3:.1f} KB, "
                       f"{micro['calls']} kernel calls")
        elif opts.get("runtime"):
            why = f" (micro: {opts['micro_refused']})" if opts.get("micro_refused") else ""
            click.echo(f"  runtime {opts['runtime']}{why}")
        q = opts.get("int8")
        if q:
            floats = ", ".join(f"{n} {why}" for why, n in q["float_layers"].items()) or "none"
            click.echo(f"  int8 {q['int8_layers']} layers on integer kernels ({q['int8_macs'] / 1e6:.0f} M MACs, "
                       f"{q['fused_epilogue_ops']} ops fused in their epilogues); float: {floats}")
        return
    click.echo(f"{info['format']} model {info['path']}")
    for t in info["inputs"]:
        click.echo(f"  input  {t['name']}: {t['shape']}")
    for t in info["outputs"]:
        click.echo(f"  output {t['name']}: {t['shape']}")
    if "params" in info:
        click.echo(f"  params {info['params']:,} ({info['params_bytes'] / 1e6:.2f} MB)")
    click.echo(f"  {info['nodes']} nodes: " + ", ".join(f"{k} {v}" for k, v in info["ops"].items()))


@cli.group("models")
def models_group() -> None:
    """The model zoo: real pretrained models shipped inside PyPI packages."""


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def models_list(as_json) -> None:
    """List zoo models and whether they are cached."""
    from edgec import models

    rows = []
    for name, m in sorted(models.registry().items()):
        rows.append({"name": name, "format": m.format, "inputs": {i.name: list(i.shape) for i in m.inputs},
                     "package": f"{m.package}=={m.version}", "cached": models.cached_path(name).exists(),
                     "description": m.description, "license": m.license})
    if as_json:
        _echo_json(rows)
        return
    from edgec.cli_output import table

    table(["name", "format", "inputs", "cached", "description"],
          [[r["name"], r["format"], " ".join(f"{k}={'x'.join(map(str, v))}" for k, v in r["inputs"].items()),
            "cached" if r["cached"] else "", r["description"]] for r in rows])


@models_group.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def models_fetch(names, as_json) -> None:
    """Download zoo models (pip download), check their sha256 and cache them (EDGEC_CACHE)."""
    from edgec import models

    paths = {n: str(models.fetch(n, quiet=as_json)) for n in names}
    if as_json:
        _echo_json(paths)
    else:
        for n, p in paths.items():
            click.echo(f"{n}: {p}")


def _model_step_options(fn):
    """The options `edgec quantize` and `edgec prune` share (they write a model, not an artifact)."""
    fn = click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)(fn)
    fn = click.option("--force", is_flag=True, help="overwrite --out")(fn)
    return click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,..")(fn)


def _refuse_existing(out: Path, force: bool) -> None:
    """Before any work: an existing --out needs --force (optimize.save_model checks again when writing)."""
    if Path(out).exists() and not force:
        raise UserInputError(f"{out} exists; pass --force to overwrite it")


def _echo_metric(res) -> None:
    if res.metric_before is not None:
        click.echo(f"metric {res.metric_before:.4f} -> {res.metric_after:.4f}")


def _echo_notes(res) -> None:
    for note in res.notes:
        click.echo(f"note: {note}")


@cli.command("quantize")
@click.argument("model")
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="quantized .onnx to write")
@click.option("--mode", type=click.Choice(SCHEMES.names()), default="int8", show_default=True,
              help="int8: static PTQ to QDQ (needs --calib); int8-weights / fp16: weight-only, smaller files")
@click.option("--calib", default=None, help="calibration data: .npz/.npy, a folder, or synthetic:text_line")
@click.option("--method", type=click.Choice(CALIBRATION_METHODS), default="minmax", show_default=True)
@click.option("--activations", type=click.Choice(ACTIVATION_TYPES), default="int8", show_default=True)
@click.option("--per-tensor", is_flag=True, help="one weight scale per tensor instead of per output channel")
@click.option("--max-drop", default=None, help="accuracy budget (e.g. 1%): keep the worst layers in float until it holds")
@click.option("--report", is_flag=True, help="print per-layer SQNR / cosine between float and int8 activations")
@_model_step_options
def quantize_cmd(model, out, mode, calib, method, activations, per_tensor, max_drop, report, input_shape, force,
                 as_json) -> None:
    """Quantize MODEL to standard QDQ ONNX (ONNX Runtime runs it too) or compress its weights."""
    from edgec.optimize import quantize_model, save_model

    _refuse_existing(out, force)
    res = quantize_model(model, mode, calib, method, activations, not per_tensor, max_drop, report=report,
                         input_shapes=_parse_shapes(input_shape), verbose=not as_json)
    save_model(res.model, out, force)
    if as_json:
        _echo_json(res.summary() | {"out": str(out), "bytes": Path(out).stat().st_size})
        return
    click.echo(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB, {mode})")
    _echo_metric(res)
    for r in res.layers:
        click.echo(f"  {r['layer'][:48]:<48} {r['op']:<7} SQNR {r['sqnr_db']:6.1f} dB  cosine {r['cosine']:.5f}")
    _echo_notes(res)


@cli.command("prune")
@click.argument("model")
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="pruned .onnx to write")
@click.option("--method", type=click.Choice(PRUNE_METHODS.names()), default="channels", show_default=True)
@click.option("--ratio", default=0.3, show_default=True, help="channels: fraction of channels removed per group")
@click.option("--sparsity", default=0.5, show_default=True, help="magnitude: fraction of weights zeroed")
@click.option("--scope", type=click.Choice(SCOPES), default="global", show_default=True,
              help="magnitude: one threshold for all layers, or per layer")
@click.option("--calib", default=None, help="calibration data: .npz/.npy, a folder, or synthetic:text_line")
@click.option("--criterion", type=click.Choice(CRITERIA), default="auto", show_default=True)
@click.option("--no-reconstruct", is_flag=True, help="skip the least-squares refit of the next layers")
@click.option("--max-drop", default=None, help="accuracy budget, e.g. 1%: back off layers until it holds")
@_model_step_options
def prune_cmd(model, out, method, ratio, sparsity, scope, calib, criterion, no_reconstruct, max_drop, input_shape,
              force, as_json) -> None:
    """Prune MODEL: remove whole channels (structured, really faster) or zero small weights
    (magnitude: smaller when compressed, not faster without sparse kernels). The result is an
    ordinary ONNX model that ONNX Runtime and edgec compile run."""
    from edgec.optimize import prune_model, save_model

    _refuse_existing(out, force)
    res = prune_model(model, method, ratio, sparsity, calib, criterion, not no_reconstruct, max_drop,
                      input_shapes=_parse_shapes(input_shape), scope=scope, verbose=not as_json)
    save_model(res.model, out, force)
    if as_json:
        _echo_json(res.summary() | {"out": str(out)})
        return
    click.echo(f"wrote {out}: params {res.params_before:,} -> {res.params_after:,} "
               f"({res.params_after / max(res.params_before, 1):.2f}x), FLOPs {res.flops_before / 1e6:.1f}M -> "
               f"{res.flops_after / 1e6:.1f}M ({res.flops_after / max(res.flops_before, 1):.2f}x)")
    _echo_metric(res)
    for layer in res.layers:
        if "channels_before" in layer:
            click.echo(f"  {','.join(layer['producers'])[:50]:<50} channels {layer['channels_before']:>4} -> {layer['channels_after']:>4}")
        else:
            click.echo(f"  {layer['layer'][:50]:<50} sparsity {layer['sparsity']:.2f} of {layer['weights']:,}")
    _echo_notes(res)


@cli.command("bench")
@click.argument("model")
@click.option("-t", "--target", "targets", multiple=True, default=("host",), show_default=True,
              help="target to compile and measure (repeatable)")
@click.option("--runs", default=20, show_default=True, help="timed runs per target (after warm-up)")
@click.option("--threads", type=int, default=None, envvar="EDGEC_NUM_THREADS", help="threads on the host")
@click.option("--rpc", default=None, metavar="HOST:PORT", help="time on a device running edgec-rpc-server")
@click.option("--tracker", default=None, metavar="HOST:PORT", help="request a device from a TVM RPC tracker")
@click.option("--key", default=None, help="device key: the server's for --rpc (default edgec), the device kind "
              "for --tracker (default: each target's name)")
@click.option("--out-dir", default=None, type=click.Path(path_type=Path), help="keep the compiled artifacts here")
@click.option("--plot", default=None, type=click.Path(path_type=Path), help="write a bar chart (PNG)")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def bench_cmd(model, targets, runs, threads, rpc, tracker, key, out_dir, plot, as_json) -> None:
    """Compile MODEL for each target and compare latency: natively on this machine, on a device
    over TVM RPC, or (for boards without --rpc) emulated under qemu for correctness only."""
    from edgec.benchmark import bench_targets, plot_targets

    rows = bench_targets(model, list(targets), runs, threads, rpc, tracker, key, out_dir, verbose=not as_json)
    if plot:
        plot_targets(rows, plot, f"edgec bench {model}")
    if as_json:
        _echo_json([r.to_dict() for r in rows])
        return
    from edgec.cli_output import table

    def cells(r):
        lat = r.latency
        times = [f"{lat.median_ms:.3f}", f"{lat.p10_ms:.3f}", f"{lat.p90_ms:.3f}", f"{lat.min_ms:.3f}"] if lat else ["-"] * 4
        return [r.target, r.where + (f" ({r.note})" if r.note else ""), *times, f"{r.artifact_bytes / 1e6:.2f}",
                f"{r.peak_memory_mb:.1f}" if r.peak_memory_mb else "-",
                f"{r.rel_l2_error:.1e}" if r.rel_l2_error is not None else "-"]

    table(["target", "where", "median ms", "p10 ms", "p90 ms", "min ms", "size MB", "peak MB", "rel-L2"],
          [cells(r) for r in rows], right=(2, 3, 4, 5, 6, 7, 8))

    def kb(r, key):
        return f"{r.sizes[key] / 1e3:.1f}" if r.sizes else "-"

    click.echo("bytes on the device (micro runtime; KB):")
    table(["target", "runtime", "runtime KB", "kernels+plan KB", "weights KB", "arena KB", "workspace KB/thread"],
          [[r.target, r.runtime, *(kb(r, k) for k in ("runtime_bytes", "kernels_bytes", "weights_bytes", "arena_bytes",
                                                        "workspace_bytes"))] for r in rows], right=(2, 3, 4, 5, 6))
    if plot:
        click.echo(f"plot written to {plot}")


@cli.command("package")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path), help="bundle folder to write")
@click.option("--force", is_flag=True, help="replace an existing edgec bundle")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def package_cmd(artifact, out, force, as_json) -> None:
    """Write a self-contained device folder: for a micro artifact (the default) model.so and
    edgec-run; for a --runtime vm one, TVM's runtime libraries, the native runner and
    edgec-rpc-server.

    The folder runs on the device with no Python: see its README.txt for the command."""
    from edgec.bundle import package

    b = package(artifact, out, force=force, quiet=as_json)
    if as_json:
        _echo_json(b.to_dict())
        return
    click.echo(f"bundle {b.path}: {b.bytes / 1e6:.2f} MB")
    for name, size in b.files.items():
        click.echo(f"  {name:<22} {size / 1e6:8.2f} MB")
    if b.sizes:
        s = b.sizes
        click.echo(f"  micro runtime: runner {s['runtime_bytes'] / 1e3:.1f} KB, kernels+plan {s['kernels_bytes'] / 1e3:.1f} KB, "
                   f"weights {s['weights_bytes'] / 1e3:.1f} KB; run memory: arena {s['arena_bytes'] / 1e3:.1f} KB + "
                   f"workspace {s['workspace_bytes'] / 1e3:.1f} KB/thread")
    click.echo(f"on the device: cd {b.path.name} && mkdir -p out && {b.runner}")


@cli.command("targets")
@click.option("--json", "as_json", is_flag=True, callback=_quiet_if_set)
def targets_cmd(as_json) -> None:
    """List the shipped targets (targets/*.toml)."""
    import shutil

    from edgec.targets import available, load_target

    rows = []
    for name in available():
        t = load_target(name)
        how = "native" if not t.is_cross else (
            f"emulated ({t.emulator.command})" if t.emulator.command and shutil.which(t.emulator.command) else "on the device")
        rows.append(t.to_dict() | {"runs_here": how})
    if as_json:
        _echo_json(rows)
        return
    from edgec.cli_output import table

    table(["name", "kind", "code for", "cross compiler", "runs here"],
          [[r["name"], r["kind"], r["arch"] if r["kind"] == "cuda" else f"{r['triple']} {r['cpu']} {' '.join(r['features'])}",
            r["toolchain"]["cxx"] or "-", r["runs_here"]] for r in rows])


def main(argv: list[str] | None = None) -> None:
    """Entry point: EdgecErrors become one 'error:' line and their exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="edgec", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except EdgecError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("EDGEC_DEBUG"):
            raise
        click.echo(f"internal error: {type(e).__name__}: {e}\n(set EDGEC_DEBUG=1 for a traceback and please report it)", err=True)
        sys.exit(INTERNAL_ERROR)
    sys.exit(0)


if __name__ == "__main__":
    main()
