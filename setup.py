from setuptools import Extension, setup

# artstore/_readahead.c reads and hashes batches of small files with the GIL released
# (artstore/readahead.py), with the portable BLAKE3 code vendored in artstore/_blake3.
# Optional: where it cannot be compiled, those files are read and hashed in Python.
BLAKE3 = ["artstore/_blake3/blake3.c", "artstore/_blake3/blake3_dispatch.c", "artstore/_blake3/blake3_portable.c"]
NO_SIMD = [(f"BLAKE3_NO_{isa}", None) for isa in ("SSE2", "SSE41", "AVX2", "AVX512")] + [("BLAKE3_USE_NEON", "0")]

setup(ext_modules=[Extension("artstore._readahead", ["artstore/_readahead.c", *BLAKE3], define_macros=NO_SIMD,
                             depends=["artstore/_blake3/blake3.h", "artstore/_blake3/blake3_impl.h"],
                             optional=True)])
