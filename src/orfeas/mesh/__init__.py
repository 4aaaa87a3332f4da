"""Mesh post-processing shared by every engine: build, clean, simplify, verify, report, export.

A mesh is a :class:`trimesh.Trimesh` in millimetres; these modules are free functions over it,
grouped by what they do (``heightfield``, ``outline``, ``closing``, ``repair``, ``verify``,
``fidelity`` with the top-down renderer ``raster``, ``report``, ``texture``, and ``doctor`` for
meshes brought from elsewhere) and with file formats in ``exchange`` (untrusted files are read
by ``exchange.untrusted``).
"""
