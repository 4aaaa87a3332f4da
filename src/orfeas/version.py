"""The ORFEAS version (a leaf: imported by whatever needs to say which ORFEAS it is)."""

VERSION = "0.1.0"
