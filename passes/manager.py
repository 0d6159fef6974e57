"""The pass manager: named IR -> IR passes and the default pipeline."""
from __future__ import annotations

from .dce import dce

PASSES = {"dce": dce}
DEFAULT_PIPELINE = ("dce",)


def optimize(ir, passes=DEFAULT_PIPELINE):
    for name in passes:
        ir = PASSES[name](ir)
    return ir
