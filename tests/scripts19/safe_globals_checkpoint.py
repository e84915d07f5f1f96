# Saving and loading with weights_only=True (the default since PyTorch 2.6) as the
# serialization docs describe: a plain state_dict loads; a checkpoint holding an instance
# of a user class (a config dataclass) is refused with pickle.UnpicklingError until the
# class is allowlisted with torch.serialization.add_safe_globals or the
# torch.serialization.safe_globals context manager; weights_only=False for a trusted file;
# get_safe_globals.
import dataclasses
import io
import pickle

import torch
import torch.nn as nn


@dataclasses.dataclass
class TrainConfig:
    lr: float
    hidden: int
    tags: tuple


model = nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(torch.arange(6.0).reshape(2, 3) / 10)
    model.bias.fill_(0.5)
cfg = TrainConfig(lr=0.01, hidden=16, tags=("a", "b"))

plain = io.BytesIO()
torch.save({"model": model.state_dict(), "epoch": 3, "history": [0.5, 0.25]}, plain)
plain.seek(0)
ckpt = torch.load(plain, weights_only=True)
print(
    "plain checkpoint:",
    sorted(ckpt),
    ckpt["epoch"],
    ckpt["history"],
    ckpt["model"]["bias"].tolist(),
)

full = io.BytesIO()
torch.save({"model": model.state_dict(), "config": cfg}, full)
full.seek(0)
try:
    torch.load(full, weights_only=True)
    print("refused: False")
except pickle.UnpicklingError:
    print("refused: True")
with torch.serialization.safe_globals([TrainConfig]):
    full.seek(0)
    loaded = torch.load(full, weights_only=True)
    print(
        "inside safe_globals:",
        loaded["config"],
        TrainConfig in torch.serialization.get_safe_globals(),
    )
print("outside again:", TrainConfig in torch.serialization.get_safe_globals())
full.seek(0)
print("trusted:", torch.load(full, weights_only=False)["config"].hidden)
torch.serialization.add_safe_globals([TrainConfig])
full.seek(0)
loaded = torch.load(full)
print("allowlisted:", loaded["config"] == cfg, loaded["model"]["weight"].tolist())
restored = nn.Linear(3, 2)
restored.load_state_dict(loaded["model"])
print("restored output:", restored(torch.ones(1, 3)).detach().numpy().round(5).tolist())
