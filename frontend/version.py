"""``kiln.version``: what ``torch.version`` tells a script about the build.

``kiln.__version__`` names the PyTorch API level kiln implements, with kiln's own release
as the local label (``"2.13.0+kiln0.1.0"``), and compares as a version like PyTorch's
``TorchVersion``: a script's ``torch.__version__ >= "2.0"`` or ``>= (2, 0)`` takes the
branch it takes under PyTorch 2.13. kiln's own release (the package's version) is
``kiln.version.kiln``.

>>> import kiln
>>> kiln.version.cuda is None and kiln.version.__version__ == kiln.__version__
True
>>> kiln.__version__ >= "2.0" and kiln.__version__ >= (2, 1) and kiln.version.kiln
'0.1.0'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TorchVersion", "__version__", "cuda", "debug", "git_version", "hip", "kiln"]

kiln = "0.1.0"  # kiln's own release: pyproject.toml's version (kept equal by a test)
TORCH_API = "2.13.0"  # the PyTorch release whose API and semantics kiln follows
git_version = "unknown"
debug = False
# kiln's CUDA kernels go through Numba, not a CUDA toolkit linked at build time: no
# version of one is built in (``kiln.cuda.is_available()`` says whether a GPU works)
cuda = None
hip = None

# PEP 440 in short, for when the ``packaging`` distribution is absent: release numbers, an
# optional pre-release (a, b, rc), post and dev parts, and a local label after "+"
_VERSION = re.compile(
    r"v?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?:[-_.]?(?P<pre>a|b|rc|alpha|beta|c)[-_.]?(?P<pre_n>[0-9]*))?"
    r"(?:[-_.]?post[-_.]?(?P<post>[0-9]*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>[0-9]*))?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?",
    re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2}


class InvalidVersion(ValueError):
    """A string that is not a PEP 440 version (then comparisons are plain string ones)."""


def _key(text: str) -> tuple:
    """A sort key of a PEP 440 version string (``packaging.version.Version``'s order)."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise InvalidVersion(text)
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    inf = float("inf")
    pre = (_PRE[match["pre"].lower()], int(match["pre_n"] or 0)) if match["pre"] else (inf,)
    if match["dev"] is not None and not match["pre"] and match["post"] is None:
        pre = (-inf,)  # (1.0.dev0 sorts before 1.0a1)
    post = int(match["post"] or 0) if match["post"] is not None else -inf
    dev = int(match["dev"] or 0) if match["dev"] is not None else inf
    local = ()
    if match["local"]:
        parts = re.split(r"[-_.]", match["local"].lower())
        local = tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in parts)
    return (tuple(release), pre, post, dev, local)


def _key_of(other) -> tuple:
    if isinstance(other, str):
        return _key(other)
    if type(other).__name__ == "Version" and hasattr(other, "release"):  # packaging's
        return _key(str(other))
    if isinstance(other, Iterable):  # (2, 1) -> "2.1", as PyTorch's TorchVersion reads it
        return _key(".".join(str(item) for item in other))
    raise InvalidVersion(other)


class TorchVersion(str):
    """A version string that compares as a version with strings, tuples and
    ``packaging.version.Version`` objects (as ``torch.torch_version.TorchVersion``);
    a string that is not a version falls back to string comparison.

    >>> TorchVersion("2.13.0+kiln0.1.0") > "2.9" and TorchVersion("2.13.0") > (2, 9)
    True
    """

    __slots__ = ()

    def _compare(self, other, method: str):
        try:
            mine, theirs = _key(self), _key_of(other)
        except InvalidVersion:
            return getattr(str, method)(self, other)
        return getattr(mine, method)(theirs)

    def __gt__(self, other):
        return self._compare(other, "__gt__")

    def __lt__(self, other):
        return self._compare(other, "__lt__")

    def __ge__(self, other):
        return self._compare(other, "__ge__")

    def __le__(self, other):
        return self._compare(other, "__le__")

    def __eq__(self, other):
        return self._compare(other, "__eq__")

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = str.__hash__


__version__ = TorchVersion(f"{TORCH_API}+kiln{kiln}")
