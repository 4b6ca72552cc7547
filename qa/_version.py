"""The installed version of qa-gate."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qa-gate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
