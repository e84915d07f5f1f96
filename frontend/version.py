"""``kiln.version``: what ``torch.version`` tells a script about the build.

>>> import kiln
>>> kiln.version.cuda is None and kiln.version.__version__ == kiln.__version__
True
"""

from __future__ import annotations

__all__ = ["__version__", "cuda", "debug", "git_version", "hip"]

__version__ = "0.1.0"  # (kept equal to kiln.__version__ by a test)
git_version = "unknown"
debug = False
# kiln's CUDA kernels go through Numba, not a CUDA toolkit linked at build time: no
# version of one is built in (``kiln.cuda.is_available()`` says whether a GPU works)
cuda = None
hip = None
