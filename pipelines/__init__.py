"""The pipeline: Dagster definitions (pipelines/defs), the machinery they call (pipelines/lib), the rulebook
(pipelines/rules) and the `fazhi` command (pipelines/cli.py)."""

import os

# One BLAS thread: the rank simulation scores its draws on threads of its own (pipelines/lib/stability.py),
# and OpenBLAS's threads under them, one a core, only spun beside them — a nation's department year took
# 2.0–2.2 s of CPU with them and 1.5–1.6 s without, CPU the SQL models built beside it wait for. Read
# by OpenBLAS when numpy loads it, which is after this package's first import in every command.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
