"""Where the engine's dask graphs run: local threads, or a ``dask.distributed`` cluster.

The engine itself never chooses: it computes with whatever scheduler is current, so
the same code runs on a laptop and on a cluster (DESIGN.md §5 "Scale").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from liangshan.errors import ConfigurationError


@contextmanager
def use_scheduler(address: str | None) -> Iterator[None]:
    """Run the enclosed computations on the scheduler at ``address`` (``tcp://host:8786``).

    ``None`` keeps the default local threaded scheduler. An unreachable address raises
    :class:`ConfigurationError` with the address and how to fix it.
    """
    if not address:
        yield
        return
    from distributed import Client

    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot reach the dask scheduler at {address}: {exc}",
            hint="start it with `dask scheduler` and workers with `dask worker ADDR`, or leave "
            "--scheduler / LIANGSHAN_SCHEDULER unset to compute locally",
        ) from None
    try:
        with client.as_current():
            import dask

            with dask.config.set(scheduler=client):
                yield
    finally:
        client.close()
