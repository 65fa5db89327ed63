"""The one compiled part of paybatch: the strict NDJSON parser (paybatch/convert/_strict_ndjson.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be compiled, the
converter reads every block with Arrow's JSON reader instead (same output, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("paybatch.convert._strict_ndjson", ["paybatch/convert/_strict_ndjson.c"],
              extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
              optional=True),
])
