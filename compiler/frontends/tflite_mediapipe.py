"""MediaPipe's TFLite custom ops as Relax graphs (the models in mediapipe/modules/ use them).

Semantics follow MediaPipe's CPU kernels (mediapipe/util/tflite/operations/*.cc, registered by
MediaPipe's op resolver) and the option parsers they call
(tensorflow/lite/delegates/gpu/common/mediapipe/*): each function below names what it mirrors.
Only the first batch element is read, as those kernels do (the models have batch 1).

- Convolution2DTransposeBias (v1): TRANSPOSE_CONV plus a bias; inputs (x NHWC, weights OHWI,
  bias [O]); options are a raw TfLiteTransposeConvParams {padding, stride_w, stride_h}. SAME pads
  max(0, k - (in-1) % s - 1) in total, the smaller half before.
- TransformTensorBilinear (v1, v2): bilinear resampling of x [1,H,W,C] on the output grid mapped by
  the first two rows of a 4x4 matrix; a sample whose source point lies outside [0,W-1]x[0,H-1] is
  0. v2 shifts the matrix by half a pixel (align-corners correction).
- Landmarks2TransformMatrix (v2): the 4x4 matrix of the crop around a subset of landmarks
  [1,N,3], rotated by the line through two of them.
- TransformLandmarks (v1, v2): x, y of each landmark mapped by that matrix; z kept.
"""
from __future__ import annotations

import struct

import numpy as np

from edgec.errors import ModelFormatError


def custom_options(op) -> bytes:
    return op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else b""


def flex_options(op, kind: str) -> dict:
    from flatbuffers import flexbuffers

    raw = custom_options(op)
    try:
        opts = flexbuffers.Loads(raw) if raw else {}
    except Exception as e:  # noqa: BLE001 - flexbuffers raises ValueError/IndexError/struct.error
        raise ModelFormatError(f"{kind}: its custom options are not a valid flexbuffer ({e})") from None
    if not isinstance(opts, dict):
        raise ModelFormatError(f"{kind}: its custom options are not a flexbuffer map")
    return opts


def _shape(conv, t) -> list[int]:
    return [int(d) for d in conv.get_tensor_shape(t)]


def _f32(v) -> "object":
    from tvm import relax

    return relax.const(np.asarray(v, dtype=np.float32))


def _elem(vec, i: int):
    """Element i of a 1-D Relax tensor, as a shape-(1,) tensor."""
    from tvm import relax

    return relax.op.strided_slice(vec, axes=[0], begin=[i], end=[i + 1])


def _matrix_rows(conv, t):
    """The 16 entries of a [1,4,4] (or [4,4]) matrix tensor (first batch element) as (1,) tensors."""
    from tvm import relax

    shape = _shape(conv, t)
    if int(np.prod(shape)) % 16 or len(shape) < 2 or shape[-2:] != [4, 4]:
        raise ModelFormatError(f"expected a 4x4 transform matrix, got shape {shape}")
    flat = relax.op.reshape(conv.get_tensor_expr(t), (int(np.prod(shape)),))
    return [_elem(flat, i) for i in range(16)]


def convolution2d_transpose_bias(conv, op):
    """mediapipe/util/tflite/operations/transpose_conv_bias.cc (Prepare: output size; Eval:
    reference loop)."""
    from tvm import relax

    kind = "Convolution2DTransposeBias"
    ins = conv.get_input_tensors(op)
    if len(ins) != 3:
        raise ModelFormatError(f"{kind} takes 3 inputs (data, weights, bias), this one has {len(ins)}")
    data, weights, bias = ins
    raw = custom_options(op)
    if len(raw) < 12:
        raise ModelFormatError(f"{kind}: custom options hold {len(raw)} bytes, expected a 12-byte "
                               "TfLiteTransposeConvParams {padding, stride_width, stride_height}")
    padding, stride_w, stride_h = struct.unpack_from("<iii", raw)
    n, h, w, c = _shape(conv, data)
    o, kh, kw, i = _shape(conv, weights)
    if i != c or _shape(conv, bias) != [o] or stride_w <= 0 or stride_h <= 0:
        raise ModelFormatError(f"{kind}: shapes data {[n, h, w, c]}, weights {[o, kh, kw, i]}, bias "
                               f"{_shape(conv, bias)} and strides {stride_h}x{stride_w} do not fit together")
    same = padding == 1  # kTfLitePaddingSame; anything else pads nothing, as in MediaPipe's kernel
    pad_h = max(0, kh - (h - 1) % stride_h - 1) if same else 0
    pad_w = max(0, kw - (w - 1) % stride_w - 1) if same else 0
    top, left = pad_h // 2, pad_w // 2
    out_shape = [n, stride_h * (h - 1) + kh - pad_h, stride_w * (w - 1) + kw - pad_w, o]
    declared = _shape(conv, conv.get_output_tensors(op)[0])
    if declared != out_shape:
        raise ModelFormatError(f"{kind}: the model declares output shape {declared}, the op computes {out_shape}")

    x = conv.get_tensor_expr(data)
    if conv.has_expr(weights.tensor_idx):
        w_ohwi = conv.get_expr(weights.tensor_idx)
    else:
        w_ohwi = conv.exp_tab.new_const(np.asarray(conv.get_tensor_value_or_prefetched(weights), np.float32),
                                        dtype="float32", source_name=weights.tensor.Name())
    if (kh, kw) == (stride_h, stride_w):
        # Non-overlapping taps: each input pixel writes its own k x k output block, so it is a
        # 1x1 conv to k*k*O channels (a matmul) and a pixel shuffle -- the same sums, without the
        # zero-inserted input a legalized conv2d_transpose computes on. The full s*in result is
        # then cropped by the padding.
        wm = relax.op.reshape(relax.op.permute_dims(w_ohwi, axes=[3, 1, 2, 0]), (c, kh * kw * o))
        y = relax.op.matmul(relax.op.reshape(x, (n * h * w, c)), wm, out_dtype="float32")
        y = relax.op.reshape(y, (n, h, w, kh, kw, o))
        y = relax.op.reshape(relax.op.permute_dims(y, axes=[0, 1, 3, 2, 4, 5]), (n, h * kh, w * kw, o))
        if pad_h or pad_w:
            y = relax.op.strided_slice(y, axes=[1, 2], begin=[top, left],
                                       end=[top + out_shape[1], left + out_shape[2]])
    else:
        # TVM 0.27 legalizes conv2d_transpose in NCHW only.
        y = relax.op.nn.conv2d_transpose(relax.op.permute_dims(x, axes=[0, 3, 1, 2]),
                                         relax.op.permute_dims(w_ohwi, axes=[3, 0, 1, 2]),
                                         strides=(stride_h, stride_w), padding=(top, left, pad_h - top, pad_w - left),
                                         data_layout="NCHW", kernel_layout="IOHW", out_dtype="float32")
        y = relax.op.permute_dims(y, axes=[0, 2, 3, 1])
    return relax.op.add(y, conv.get_tensor_expr(bias))


def transform_tensor_bilinear(conv, op, version: int):
    """mediapipe/util/tflite/operations/transform_tensor_bilinear.cc, v1::TransformTensor and
    v2::TransformTensorBilinearV2: output pixel (ox, oy) samples the input at
    (m0*ox + m1*oy + m3, m4*ox + m5*oy + m7); v2 first adds m0/2 + m1/2 - 1/2 to m3 (m4/2 + m5/2 -
    1/2 to m7). Out of [0, W-1] x [0, H-1] -> 0; neighbours past the edge read 0."""
    from tvm import relax

    kind = "TransformTensorBilinear"
    ins = conv.get_input_tensors(op)
    if len(ins) != 2:
        raise ModelFormatError(f"{kind} takes 2 inputs (data, matrix), this one has {len(ins)}")
    data, matrix = ins
    shape = _shape(conv, data)
    out = _shape(conv, conv.get_output_tensors(op)[0])
    if len(shape) != 4 or len(out) != 4 or out[3] != shape[3]:
        raise ModelFormatError(f"{kind}: input {shape} and output {out} must be NHWC with the same channels")
    if shape[0] != 1:
        raise ModelFormatError(f"{kind}: MediaPipe's kernel reads batch 1 only, the input is {shape}")
    _, h, w, c = shape
    oh, ow = out[1], out[2]
    m = _matrix_rows(conv, matrix)
    x0, x1, x2, x3, y0, y1, y2, y3 = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    if version >= 2:  # computed in double and stored as float by the kernel
        def shifted(a, b, d):
            a, b, d = (relax.op.astype(v, "float64") for v in (a, b, d))
            half = relax.const(0.5, "float64")
            corr = relax.op.subtract(relax.op.add(relax.op.multiply(a, half), relax.op.multiply(b, half)), half)
            return relax.op.astype(relax.op.add(d, corr), "float32")
        x3, y3 = shifted(x0, x1, x3), shifted(y0, y1, y3)

    gx = _f32(np.broadcast_to(np.arange(ow, dtype=np.float32)[None, :], (oh, ow)))
    gy = _f32(np.broadcast_to(np.arange(oh, dtype=np.float32)[:, None], (oh, ow)))
    zero = _f32(0.0)

    def dot(a, b, cz, d):  # DotProduct(row, (ox, oy, 0, 1)), left to right
        s = relax.op.add(relax.op.multiply(a, gx), relax.op.multiply(b, gy))
        return relax.op.add(relax.op.add(s, relax.op.multiply(cz, zero)), d)

    tx, ty = dot(x0, x1, x2, x3), dot(y0, y1, y2, y3)
    inside = relax.op.logical_and(
        relax.op.logical_and(relax.op.greater_equal(tx, zero), relax.op.less_equal(tx, _f32(w - 1))),
        relax.op.logical_and(relax.op.greater_equal(ty, zero), relax.op.less_equal(ty, _f32(h - 1))))
    fx, fy = relax.op.floor(tx), relax.op.floor(ty)
    rc, lc = relax.op.subtract(tx, fx), relax.op.subtract(ty, fy)
    # Clamp before the int cast: outside points are masked anyway, and the cast stays in range.
    ix = relax.op.astype(relax.op.clip(fx, -1.0, float(w)), "int32")
    iy = relax.op.astype(relax.op.clip(fy, -1.0, float(h)), "int32")

    src = relax.op.reshape(relax.op.strided_slice(conv.get_tensor_expr(data), axes=[0], begin=[0], end=[1]),
                           (h * w, c))

    def read(dy: int, dx: int):
        yy = relax.op.add(iy, relax.const(dy, "int32"))
        xx = relax.op.add(ix, relax.const(dx, "int32"))
        ok = relax.op.logical_and(
            relax.op.logical_and(relax.op.greater_equal(yy, relax.const(0, "int32")),
                                 relax.op.less(yy, relax.const(h, "int32"))),
            relax.op.logical_and(relax.op.greater_equal(xx, relax.const(0, "int32")),
                                 relax.op.less(xx, relax.const(w, "int32"))))
        flat = relax.op.add(relax.op.multiply(relax.op.clip(yy, 0, h - 1), relax.const(w, "int32")),
                            relax.op.clip(xx, 0, w - 1))
        v = relax.op.reshape(relax.op.take(src, relax.op.reshape(flat, (oh * ow,)), axis=0, mode="clip"), (oh, ow, c))
        return relax.op.where(relax.op.expand_dims(ok, 2), v, _f32(0.0))

    q11, q21, q12, q22 = read(0, 0), read(0, 1), read(1, 0), read(1, 1)
    one = _f32(1.0)
    rc3, lc3 = relax.op.expand_dims(rc, 2), relax.op.expand_dims(lc, 2)
    upper = relax.op.add(relax.op.multiply(relax.op.subtract(one, rc3), q11), relax.op.multiply(rc3, q21))
    lower = relax.op.add(relax.op.multiply(relax.op.subtract(one, rc3), q12), relax.op.multiply(rc3, q22))
    res = relax.op.add(relax.op.multiply(lc3, lower), relax.op.multiply(relax.op.subtract(one, lc3), upper))
    res = relax.op.where(relax.op.expand_dims(inside, 2), res, _f32(0.0))
    return relax.op.reshape(res, (1, oh, ow, c))


def landmarks_to_transform_matrix(conv, op, version: int):
    """mediapipe/util/tflite/operations/landmarks_to_transform_matrix.cc, v2: rotation r = target -
    atan2(right.y - left.y, right.x - left.x); the subset's landmarks rotated by r give the crop's
    size and (rotated back) its centre; matrix = shift(centre) * rot(-r) * scale(scale_x * crop_w /
    output_width, ...) * shift(-output_width / 2, -output_height / 2)."""
    from tvm import relax

    kind = "Landmarks2TransformMatrix"
    opts = flex_options(op, kind)
    try:
        subset = [int(v) for v in opts["subset_idxs"]]
        left, right = int(opts["left_rotation_idx"]), int(opts["right_rotation_idx"])
        target = float(opts.get("target_rotation_radians", 0.0))
        out_h, out_w = int(opts["output_height"]), int(opts["output_width"])
        scale_x, scale_y = float(opts["scale_x"]), float(opts["scale_y"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFormatError(f"{kind}: custom option missing or malformed ({e})") from None
    (data,) = conv.get_input_tensors(op)[:1]
    shape = _shape(conv, data)
    if len(shape) != 3 or shape[0] != 1 or shape[2] < 2:
        raise ModelFormatError(f"{kind}: expected landmarks [1, N, 3], got {shape}")
    n = shape[1]
    if (not subset or min(subset + [left, right]) < 0 or max(subset + [left, right]) >= n
            or out_h <= 0 or out_w <= 0 or scale_x <= 0 or scale_y <= 0):
        raise ModelFormatError(f"{kind}: options out of range for {n} landmarks: {opts}")
    if len(subset) % 2:  # the parser pairs them and repeats an odd last one (no effect on min/max)
        subset.append(subset[-1])

    lm = relax.op.reshape(relax.op.strided_slice(conv.get_tensor_expr(data), axes=[0], begin=[0], end=[1]),
                          (n, shape[2]))
    xs = relax.op.reshape(relax.op.strided_slice(lm, axes=[1], begin=[0], end=[1]), (n,))
    ys = relax.op.reshape(relax.op.strided_slice(lm, axes=[1], begin=[1], end=[2]), (n,))
    dy = relax.op.subtract(_elem(ys, right), _elem(ys, left))
    dx = relax.op.subtract(_elem(xs, right), _elem(xs, left))
    rot = relax.op.subtract(_f32(target), relax.op.atan2(dy, dx))
    c, s = relax.op.cos(rot), relax.op.sin(rot)

    idx = relax.const(np.asarray(subset, dtype=np.int32))
    px, py = relax.op.take(xs, idx, axis=0, mode="clip"), relax.op.take(ys, idx, axis=0, mode="clip")
    zero = _f32(0.0)
    # Mat3(c, -s, 0; s, c, 0; 0, 0, 1) * (x, y, 1)
    rx = relax.op.add(relax.op.add(relax.op.multiply(c, px), relax.op.multiply(relax.op.negative(s), py)), zero)
    ry = relax.op.add(relax.op.add(relax.op.multiply(s, px), relax.op.multiply(c, py)), zero)
    max_x, min_x = relax.op.max(rx, axis=[0], keepdims=True), relax.op.min(rx, axis=[0], keepdims=True)
    max_y, min_y = relax.op.max(ry, axis=[0], keepdims=True), relax.op.min(ry, axis=[0], keepdims=True)
    crop_w, crop_h = relax.op.subtract(max_x, min_x), relax.op.subtract(max_y, min_y)
    two = _f32(2.0)
    mid_x = relax.op.divide(relax.op.add(min_x, max_x), two)
    mid_y = relax.op.divide(relax.op.add(min_y, max_y), two)
    # back by -r: Mat3(cos(-r), -sin(-r), 0; sin(-r), cos(-r), 0; ...) = (c, s; -s, c)
    cx = relax.op.add(relax.op.add(relax.op.multiply(c, mid_x), relax.op.multiply(s, mid_y)), zero)
    cy = relax.op.add(relax.op.add(relax.op.multiply(relax.op.negative(s), mid_x), relax.op.multiply(c, mid_y)), zero)

    sx = relax.op.divide(relax.op.multiply(_f32(scale_x), crop_w), _f32(out_w))
    sy = relax.op.divide(relax.op.multiply(_f32(scale_y), crop_h), _f32(out_h))
    shx, shy = _f32(-1.0 * (out_w / 2.0)), _f32(-1.0 * (out_h / 2.0))
    a00, a01 = relax.op.multiply(c, sx), relax.op.multiply(s, sy)
    a10, a11 = relax.op.multiply(relax.op.negative(s), sx), relax.op.multiply(c, sy)
    a03 = relax.op.add(relax.op.add(relax.op.add(relax.op.multiply(a00, shx), relax.op.multiply(a01, shy)), zero), cx)
    a13 = relax.op.add(relax.op.add(relax.op.add(relax.op.multiply(a10, shx), relax.op.multiply(a11, shy)), zero), cy)
    z, one = _f32([0.0]), _f32([1.0])
    entries = [a00, a01, z, a03, a10, a11, z, a13, z, z, one, z, z, z, z, one]
    return relax.op.reshape(relax.op.concat(entries, axis=0), (1, 4, 4))


def transform_landmarks(conv, op, version: int):
    """mediapipe/util/tflite/operations/transform_landmarks.cc: (x, y) -> (m0*x + m1*y + m3*scale,
    m4*x + m5*y + m7*scale), z (a third coordinate) kept. v2: landmarks [1, N, D], D = 2 or 3,
    scale 1; v1: [1, H, W, C] with 'dimensions' and 'scale' options."""
    from tvm import relax

    kind = "TransformLandmarks"
    data, matrix = conv.get_input_tensors(op)[:2]
    shape = _shape(conv, data)
    if not shape or shape[0] != 1:
        raise ModelFormatError(f"{kind}: MediaPipe's kernel reads batch 1 only, the landmarks are {shape}")
    if version >= 2:
        if len(shape) != 3:
            raise ModelFormatError(f"{kind} v2: expected landmarks [1, N, D], got {shape}")
        dims, scale = shape[2], 1.0
    else:
        opts = flex_options(op, kind)
        dims, scale = int(opts.get("dimensions", 3)), float(opts.get("scale", 1.0))
        if len(shape) != 4 or shape[3] % max(dims, 1) or scale == 0:
            raise ModelFormatError(f"{kind} v1: landmarks {shape} do not fit dimensions={dims}, scale={scale}")
    if dims not in (2, 3):
        raise ModelFormatError(f"{kind}: landmarks have {dims} coordinates, the op supports 2 or 3")
    m = _matrix_rows(conv, matrix)
    count = int(np.prod(shape[1:])) // dims
    pts = relax.op.reshape(relax.op.strided_slice(conv.get_tensor_expr(data), axes=[0], begin=[0], end=[1]),
                           (count, dims))
    x = relax.op.strided_slice(pts, axes=[1], begin=[0], end=[1])
    y = relax.op.strided_slice(pts, axes=[1], begin=[1], end=[2])
    zero = _f32(0.0)
    m3, m7 = m[3], m[7]
    if scale != 1.0:
        m3, m7 = relax.op.multiply(m3, _f32(scale)), relax.op.multiply(m7, _f32(scale))

    def dot(a, b, cz, d):  # DotProduct(row, (x, y, 0, 1))
        s = relax.op.add(relax.op.multiply(a, x), relax.op.multiply(b, y))
        return relax.op.add(relax.op.add(s, relax.op.multiply(cz, zero)), d)

    cols = [dot(m[0], m[1], m[2], m3), dot(m[4], m[5], m[6], m7)]
    if dims == 3:
        cols.append(relax.op.strided_slice(pts, axes=[1], begin=[2], end=[3]))
    return relax.op.reshape(relax.op.concat(cols, axis=1), shape)


# name -> (versions implemented, converter(conv, op, version))
CUSTOM_OPS = {
    "Convolution2DTransposeBias": ({1}, lambda conv, op, v: convolution2d_transpose_bias(conv, op)),
    "TransformTensorBilinear": ({1, 2}, transform_tensor_bilinear),
    "Landmarks2TransformMatrix": ({2}, landmarks_to_transform_matrix),
    "TransformLandmarks": ({1, 2}, transform_landmarks),
}
