"""The service: a web terminal and an HTTP API over ``assess``, with an fsspec store, SQL job metadata and
dask.distributed compute. ``create_app(ServiceConfig(...))`` builds the FastAPI app; ``serve`` runs it."""

from surrogate.service.config import ServiceConfig

__all__ = ["ServiceConfig"]
