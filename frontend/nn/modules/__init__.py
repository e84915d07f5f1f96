"""``kiln.nn.modules``: where PyTorch keeps its module classes (``torch.nn.modules``);
scripts reach it for ``nn.modules.module.register_module_forward_hook`` and for the
classes themselves (``nn.modules.Linear``), which are ``kiln.nn``'s.
"""

from . import module


def __getattr__(name):
    import kiln.nn

    try:
        return getattr(kiln.nn, name)
    except AttributeError:
        raise AttributeError(f"module 'kiln.nn.modules' has no attribute '{name}'") from None
