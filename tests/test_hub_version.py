"""``kiln.hub`` (local hub repositories, as ``torch.hub`` with ``source="local"``) and
``kiln.version``."""

from __future__ import annotations

import pytest

import kiln

HUBCONF = '''
dependencies = ["numpy"]

def tiny(n=2, bias=True):
    """A tiny linear model."""
    import {lib}
    return {lib}.nn.Linear(n, 1, bias=bias)

def _private():
    return None

class NotAnEntry:
    pass
'''


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "hubconf.py").write_text(HUBCONF.format(lib="kiln"))
    return tmp_path


def test_version_module():
    assert kiln.version.__version__ == kiln.__version__
    assert kiln.version.cuda is None and kiln.version.hip is None


def test_local_hub_lists_helps_and_loads(repo):
    assert kiln.hub.list(str(repo), source="local") == ["tiny"]
    assert kiln.hub.help(str(repo), "tiny", source="local") == "A tiny linear model."
    model = kiln.hub.load(str(repo), "tiny", 3, source="local", bias=False)
    assert isinstance(model, kiln.nn.Linear) and model.in_features == 3 and model.bias is None


def test_hub_agrees_with_torch_on_a_local_repo(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "hubconf.py").write_text(HUBCONF.format(lib="torch"))
    ours = kiln.hub.load(str(tmp_path), "tiny", 3, source="local", bias=False)
    theirs = torch.hub.load(str(tmp_path), "tiny", 3, source="local", bias=False)
    assert type(ours).__name__ == type(theirs).__name__ == "Linear"
    assert (ours.in_features, ours.bias) == (theirs.in_features, theirs.bias)


def test_hub_errors(repo, tmp_path):
    with pytest.raises(RuntimeError, match="Cannot find callable _private"):
        kiln.hub.load(str(repo), "_private", source="local")
    with pytest.raises(RuntimeError, match="Cannot find callable missing"):
        kiln.hub.load(str(repo), "missing", source="local")
    with pytest.raises(ValueError, match="Unknown source"):
        kiln.hub.load(str(repo), "tiny", source="ftp")
    with pytest.raises(RuntimeError, match="does not download"):
        kiln.hub.load("pytorch/vision", "resnet18")
    with pytest.raises(RuntimeError, match="does not download"):
        kiln.hub.load_state_dict_from_url("https://example.com/w.pth")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "hubconf.py").write_text("dependencies = ['no_such_module_x']\n")
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_module_x"):
        kiln.hub.list(str(tmp_path / "other"), source="local")


def test_hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(kiln.hub, "_hub_dir", None)
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    assert kiln.hub.get_dir() == str(tmp_path / "hub")
    kiln.hub.set_dir(tmp_path / "elsewhere")
    assert kiln.hub.get_dir() == str(tmp_path / "elsewhere")


def test_utils_dlpack_round_trips_with_torch():
    torch = pytest.importorskip("torch")
    t = kiln.arange(4.0)
    shared = torch.utils.dlpack.from_dlpack(kiln.utils.dlpack.to_dlpack(t))
    shared[0] = 9.0  # (one memory)
    assert t[0].item() == 9.0
    back = kiln.utils.dlpack.from_dlpack(torch.ones(2))
    assert isinstance(back, kiln.Tensor) and back.tolist() == [1.0, 1.0]
