"""``kiln.backends.cusparselt``: NVIDIA's cuSPARSELt, not used by kiln (PyTorch's CPU build
answers the same)."""


def is_available() -> bool:
    return False


def version():
    return None


def get_max_alg_id():
    return None
