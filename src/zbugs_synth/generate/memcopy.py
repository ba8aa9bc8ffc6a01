"""Fast byte copies inside numba-compiled code (the numba backend only).

Numba compiles slice assignment (`dst[a:b] = src[c:d]`) to a byte loop: ~150 ns for a 300-byte
piece here. `copy16` instead moves 16-byte blocks with unaligned loads and stores and may touch
up to 15 bytes past either end: sources and destinations follow the padding contract described
in `layout` (`PAD`, `padded`, `SLACK`).

Intrinsics (unlike a ctypes call to libc) keep the kernel cacheable on disk.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


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
