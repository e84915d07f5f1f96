"""``kiln.backends.kleidiai``: Arm's KleidiAI kernels, not used by kiln."""


def is_available() -> bool:
    return False
