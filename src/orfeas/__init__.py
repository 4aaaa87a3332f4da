"""ORFEAS: a picture or a line of text in, a watertight, print-ready 3D model out.

``orfeas.generate(...)`` is the whole pipeline as one function; see :mod:`orfeas.pipeline`.
"""

from orfeas.pipeline import Model, generate, mend

__version__ = "0.1.0"
__all__ = ["Model", "__version__", "generate", "mend"]
