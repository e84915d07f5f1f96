"""``kiln.backends.mkl``: kiln calls no MKL (``is_available()`` is False; PyTorch's x86 build
says True); ``verbose(enable)`` is a context manager that prints nothing."""

VERBOSE_OFF = 0
VERBOSE_ON = 1


def is_available() -> bool:
    return False


class verbose:  # noqa: N801 - PyTorch's name
    """``with kiln.backends.mkl.verbose(VERBOSE_ON):``: no MKL, nothing to print."""

    def __init__(self, enable):
        self.enable = enable

    def __enter__(self):
        return None if self.enable == VERBOSE_OFF else self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False
