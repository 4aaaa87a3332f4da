"""The HTTP service: ``create_app(settings)`` builds a FastAPI app, ``serve(settings)`` runs it."""

from orfeas.api.app import create_app
from orfeas.api.server import serve

__all__ = ["create_app", "serve"]
