"""``kiln.backends.mha``: the fast-path switch of ``nn.MultiheadAttention`` and
``nn.TransformerEncoder`` (kiln has one path; the switch is recorded)."""

_is_fastpath_enabled = True


def get_fastpath_enabled() -> bool:
    return _is_fastpath_enabled


def set_fastpath_enabled(value: bool) -> None:
    global _is_fastpath_enabled
    _is_fastpath_enabled = value
