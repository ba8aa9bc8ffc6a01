"""Fast byte copies inside numba-compiled code.

Numba compiles slice assignment (`dst[a:b] = src[c:d]`) to a byte loop: ~150 ns for a 300-byte
piece here. Text filling is mostly copying short pieces (5-60 bytes), where even libc's memcpy
spends most of its time choosing a strategy for the size. `copy16` instead moves 16-byte blocks
with unaligned loads and stores and may touch up to 15 bytes past either end, so:

  * every source array handed to it carries `PAD` readable bytes past its last piece, and
  * every destination keeps `PAD` spare bytes beyond the position being written (the kernel's
    room checks include that slack); over-written spare bytes are overwritten by the next piece
    or never counted (only [0, end) of a buffer is ever written out).

Intrinsics (unlike a ctypes call to libc) keep the kernel cacheable on disk.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

PAD = 16


def padded(data: bytes | np.ndarray) -> np.ndarray:
    """A uint8 copy of `data` followed by PAD zero bytes (a valid `copy16` source)."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    out = np.zeros(raw.shape[0] + PAD, dtype=np.uint8)
    out[: raw.shape[0]] = raw
    return out


@intrinsic
def copy16(typingctx, dst, dst_off, src, src_off, n):  # type: ignore[no-untyped-def]
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d, doff, s, soff, count = args
        dary = context.make_array(signature.args[0])(context, builder, d)
        sary = context.make_array(signature.args[2])(context, builder, s)
        dptr = builder.gep(dary.data, [doff])
        sptr = builder.gep(sary.data, [soff])
        block = ir.IntType(128).as_pointer()
        zero = ir.Constant(count.type, 0)
        step = ir.Constant(count.type, 16)
        with cgutils.for_range_slice(builder, zero, count, step, inc=True) as (idx, _):
            value = builder.load(builder.bitcast(builder.gep(sptr, [idx]), block), align=1)
            builder.store(value, builder.bitcast(builder.gep(dptr, [idx]), block), align=1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def memcpy_into(typingctx, dst, dst_off, src, src_off, n):  # type: ignore[no-untyped-def]
    """An exact memcpy (no over-read or over-write), for sources without padding."""
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d, doff, s, soff, count = args
        dary = context.make_array(signature.args[0])(context, builder, d)
        sary = context.make_array(signature.args[2])(context, builder, s)
        cgutils.raw_memcpy(builder, builder.gep(dary.data, [doff]), builder.gep(sary.data, [soff]), count, 1)
        return context.get_dummy_value()

    return sig, codegen
