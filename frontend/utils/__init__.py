"""``kiln.utils``: helpers around the core (``kiln.utils.data`` for datasets and loaders).

Kept light: ``import kiln.utils`` imports nothing heavy; ``kiln.utils.data`` loads on first
use.

>>> import kiln
>>> kiln.utils.data.TensorDataset(kiln.arange(3))[1]
(tensor(1),)
"""


def __getattr__(name):
    if name in ("data", "benchmark"):
        import importlib

        return importlib.import_module(f"kiln.utils.{name}")
    raise AttributeError(f"module 'kiln.utils' has no attribute {name!r}")
