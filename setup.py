"""Build the optional C extensions; all other metadata lives in pyproject.toml.

`optional=True`: without a working C compiler the install still succeeds. The generator then falls
back to numba (see src/zbugs_synth/generate/backend.py) and the direct load's COPY streams send CSV
instead of binary (src/zbugs_synth/generate/sinks/pgbinary.py). The extensions use only the buffer
protocol, so no NumPy headers are needed at build time.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zbugs_synth.generate._ckernel",
            sources=["src/zbugs_synth/generate/_ckernel.c"],
            optional=True,
            # -ffp-contract=off: never fuse a multiply and an add, which would round differently
            # from the numba kernel and change bytes (GCC fuses by default where the CPU can).
            extra_compile_args=["-O3", "-ffp-contract=off"],
            # Bind `log` to libm's default symbol version explicitly (the one dlsym returns, which
            # tests/generate/test_backends.py compares with numba's log). Windows has no libm.
            libraries=[] if sys.platform == "win32" else ["m"],
        ),
        # Binary COPY for the direct load (zbugs_synth/generate/sinks/pgbinary.py); without it,
        # the COPY streams send CSV.
        Extension(
            "zbugs_synth.generate.sinks._pgbinary",
            sources=["src/zbugs_synth/generate/sinks/_pgbinary.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
    ]
)
