"""``python -m orfeas.api``: serve with settings from the environment (``ORFEAS_*``)."""

from orfeas.api.server import serve

if __name__ == "__main__":
    serve()
