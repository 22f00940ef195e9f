"""HeadWatch's core: model, corpus, training, inspection, run storage; plain Python + torch."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one place the version is read: the installed distribution's metadata
    __version__ = version("headwatch")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "unknown"
