"""The parse workers' fork server (pipelines/lib/isolation.py), started by the name of the workers'
module (pipelines/lib/parsing.py) before anything is imported that a command does not need first:
importing the parsers to start their server took 0.2 s before the server could begin its own imports,
while the other core waited."""

from pipelines.lib.isolation import start_server

MODULE = "pipelines.lib.parsing"  # the workers' functions: parse_batch, parse_ahead_batch
# Imported by the fork server for the parse workers: pyarrow imports pandas at its first conversion of
# Python lists, which every parse batch makes.
WORKER_PRELOAD = ("pandas",)


def start_parsers() -> None:
    """Start the parse workers' fork server now, without waiting: a command about to parse calls it
    first, so that the workers are ready when parsing begins."""
    start_server(MODULE, WORKER_PRELOAD)
