"""``torch.__future__``: switches for behaviour PyTorch plans to change.

Both concern how ``Module.to`` / ``_apply`` converts parameters. kiln always keeps the
``Parameter`` objects and gives them the converted data (what PyTorch does with either
switch on, or by ``.data =`` with both off), so the switches are recorded and reported but
change nothing a script can observe through the parameters.

>>> import kiln
>>> kiln.__future__.get_swap_module_params_on_conversion()
False
"""

from __future__ import annotations

_overwrite_module_params_on_conversion = False
_swap_module_params_on_conversion = False


def set_overwrite_module_params_on_conversion(value: bool) -> None:
    global _overwrite_module_params_on_conversion
    _overwrite_module_params_on_conversion = bool(value)


def get_overwrite_module_params_on_conversion() -> bool:
    return _overwrite_module_params_on_conversion


def set_swap_module_params_on_conversion(value: bool) -> None:
    global _swap_module_params_on_conversion
    _swap_module_params_on_conversion = bool(value)


def get_swap_module_params_on_conversion() -> bool:
    return _swap_module_params_on_conversion
