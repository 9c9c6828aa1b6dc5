"""Keeping Python's cyclic garbage collector off the hot path.

Measured under load, collections took about a fifth of llm-proxy's CPU: every run
of the oldest generation walked the whole long-lived heap (the tokenizers'
vocabularies, hundreds of thousands of entries each, the catalog, the FastAPI,
pydantic and SQLAlchemy machinery), none of which ever becomes garbage. Once a
service has built all of it, it is moved out of the collector's sight
(``gc.freeze``), and the youngest generation is collected less often: a request's
own objects die by reference counting anyway. Every service does this at the end of
its start-up (``ServiceRuntime``; the gateway in its own start-up).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_startup_heap"]

# Allocations (minus deallocations) of tracked objects between youngest-generation runs;
# CPython's default is 700, tuned for small scripts rather than servers.
YOUNG_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Call once start-up has built everything long-lived (catalogs, tokenizers, pools)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
