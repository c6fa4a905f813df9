"""Conduit: the RealWorld API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("conduit")  # pyproject.toml's, as installed
except PackageNotFoundError:  # a source tree that is not installed (the image copies src/)
    __version__ = "0.1.0"
