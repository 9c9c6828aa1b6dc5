"""Library shared by every Tollgate service and the gateway.

Each module is imported by its own name (``from tollgate.shared.errors import
NotFound``); the package itself exports nothing, so importing one module never loads
the others. ``shared/README.md`` describes every module.
"""

__all__: list[str] = []
