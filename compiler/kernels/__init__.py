"""edgec's own operator definitions (TE computes with weights packed at compile time).

TVM's stock legalization gives each conv a loop nest whose only vectorizable axis in NCHW is the
output width, which is why odd widths (7, 13, 14, 52) fell off a cliff. The computes here put
output channels in the vector lanes and a short run of output pixels in registers, with the
channel and pixel counts padded to whole tiles, so cost grows smoothly with any shape
(docs/kernels.md).
"""
