"""``kiln.hub``: PyTorch's ``torch.hub`` for models kept in a local folder.

A hub repository is a folder with a ``hubconf.py`` whose public functions are entry
points (``dependencies``, a list of required modules, is checked). ``source="local"``
works as in PyTorch: ``list``, ``help`` and ``load`` import that ``hubconf.py`` and call
the entry point. Downloading (``source="github"``, ``load_state_dict_from_url``,
``download_url_to_file``) raises: kiln does not fetch code or weights from the network.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "hubconf.py"), "w") as f:
...     _ = f.write("dependencies = ['numpy']\\ndef tiny(n=2):\\n    '''A tiny model.'''\\n"
...                 "    import kiln\\n    return kiln.nn.Linear(n, 1)\\n")
>>> list_entrypoints = list(folder, source="local")
>>> list_entrypoints
['tiny']
>>> load(folder, "tiny", source="local", n=3).in_features
3
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = [
    "download_url_to_file",
    "get_dir",
    "help",
    "list",
    "load",
    "load_state_dict_from_url",
    "set_dir",
]

_builtin_list = list
_hub_dir: str | None = None


def get_dir() -> str:
    """The folder for hub files: ``set_dir``'s, else ``$KILN_HOME/hub`` (by default
    ``~/.cache/kiln/hub``), as PyTorch's ``$TORCH_HOME/hub``."""
    if _hub_dir is not None:
        return _hub_dir
    home = os.environ.get(
        "KILN_HOME",
        os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kiln"),
    )
    return os.path.join(home, "hub")


def set_dir(d) -> None:
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def _no_download(what: str):
    raise RuntimeError(
        f"kiln.hub.{what}: kiln does not download code or weights; download the files "
        "yourself and use source='local' (a folder with a hubconf.py) or kiln.load"
    )


def _hubconf(repo_or_dir: str, source: str):
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        _no_download("load from GitHub")
    path = os.path.join(os.path.expanduser(os.fspath(repo_or_dir)), "hubconf.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"kiln.hub: no hubconf.py in {repo_or_dir!r}")
    name = f"kiln_hubconf_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)  # (a hubconf imports its own modules, as in PyTorch)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    missing = [
        d for d in getattr(module, "dependencies", []) if importlib.util.find_spec(d) is None
    ]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(module, model: str):
    function = getattr(module, model, None) if not model.startswith("_") else None
    if function is None or not callable(function):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return function


def list(
    github,
    force_reload=False,
    skip_validation=False,
    trust_repo="check",
    verbose=True,
    *,
    source="github",
):  # noqa: A001 (PyTorch's name)
    """The entry points of a hub repository (its hubconf's public callables). PyTorch's
    lists GitHub repositories only; kiln's takes ``source="local"`` too."""
    module = _hubconf(github, source)
    return sorted(
        name
        for name, value in vars(module).items()
        if callable(value)
        and not name.startswith("_")
        and not isinstance(value, type)
        and getattr(value, "__module__", None) == module.__name__
    )


def help(
    github, model, force_reload=False, skip_validation=False, trust_repo="check", *, source="github"
):  # noqa: A001 (PyTorch's name)
    """The docstring of entry point ``model``."""
    return _entry(_hubconf(github, source), model).__doc__


def load(
    repo_or_dir,
    model,
    *args,
    source="github",
    trust_repo="check",
    force_reload=False,
    verbose=True,
    skip_validation=False,
    **kwargs,
):
    """Call entry point ``model`` of the hub repository ``repo_or_dir`` with ``args`` and
    ``kwargs`` (``source="local"``: a folder; GitHub repositories raise)."""
    return _entry(_hubconf(repo_or_dir, source), model)(*args, **kwargs)


def load_state_dict_from_url(
    url,
    model_dir=None,
    map_location=None,
    progress=True,
    check_hash=False,
    file_name=None,
    weights_only=False,
):
    _no_download("load_state_dict_from_url")


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    _no_download("download_url_to_file")
