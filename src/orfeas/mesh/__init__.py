"""Mesh post-processing shared by every engine: build, clean, simplify, verify, report, export.

A mesh is a :class:`trimesh.Trimesh` in millimetres; these modules are free functions over it,
grouped by what they do (``heightfield``, ``repair``, ``verify``, ``report``) and with file
formats in ``exchange``.
"""
