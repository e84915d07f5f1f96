# torch.save / torch.load round trips as the saving-and-loading recipes show: to BytesIO
# and files, state_dict (weights_only=True), a checkpoint dict with optimizer state,
# epoch and loss, tensors of several dtypes, views sharing storage, nested containers,
# map_location, loading into a fresh model, and what weights_only refuses.
import io
import os
import tempfile

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32)))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.from_numpy(rng.standard_normal((6, 3)).astype(np.float32))
model(x).sum().backward()
opt.step()
buf = io.BytesIO()
torch.save(model.state_dict(), buf)
buf.seek(0)
sd = torch.load(buf, weights_only=True)
print("keys:", list(sd))
print("types:", type(sd).__name__, sd["1.num_batches_tracked"], sd["1.running_mean"].dtype)
fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
print("load:", fresh.load_state_dict(sd))
fresh.eval()
model.eval()
print("same output:", torch.equal(fresh(x), model(x)))
ckpt = {
    "epoch": 5,
    "model_state_dict": model.state_dict(),
    "optimizer_state_dict": opt.state_dict(),
    "loss": 0.25,
}
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "ckpt.pt")
    torch.save(ckpt, path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
print("ckpt:", loaded["epoch"], loaded["loss"], sorted(loaded["optimizer_state_dict"]))
opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-3)
opt2.load_state_dict(loaded["optimizer_state_dict"])
print("opt state:", opt2.state_dict()["state"][0]["step"], opt2.param_groups[0]["lr"])
print(
    "exp_avg equal:",
    torch.equal(opt2.state_dict()["state"][2]["exp_avg"], opt.state_dict()["state"][2]["exp_avg"]),
)
tensors = {
    "f64": torch.tensor([1.5, 2.5], dtype=torch.float64),
    "i32": torch.arange(3, dtype=torch.int32),
    "bool": torch.tensor([True, False]),
    "f16": torch.tensor([0.1], dtype=torch.float16),
    "bf16": torch.tensor([0.1], dtype=torch.bfloat16),
    "u8": torch.tensor([255], dtype=torch.uint8),
    "scalar": torch.tensor(3.0),
    "empty": torch.zeros(0, 2),
    "nested": [torch.ones(2), (torch.zeros(1), {"k": torch.full((1,), 7)})],
    "grad": torch.ones(2, requires_grad=True),
}
buf = io.BytesIO()
torch.save(tensors, buf)
buf.seek(0)
back = torch.load(buf)
for k in ["f64", "i32", "bool", "f16", "bf16", "u8", "scalar", "empty"]:
    print("dtype", k, back[k].dtype, back[k].shape, torch.equal(back[k], tensors[k]))
print("nested:", back["nested"][1][1]["k"], type(back["nested"][1]).__name__)
print("requires_grad kept:", back["grad"].requires_grad, back["grad"].is_leaf)
base = torch.arange(6.0)
views = {"a": base[:3], "b": base[2:]}
buf = io.BytesIO()
torch.save(views, buf)
buf.seek(0)
v = torch.load(buf)
v["a"][2] = 100.0
print("views values:", v["a"].tolist(), v["b"].tolist())
print("shared storage:", v["b"][0].item())
buf = io.BytesIO()
torch.save(base[:2].clone(), buf)
print("clone saved small:", buf.tell() < 2000)
buf = io.BytesIO()
torch.save(model, buf)
buf.seek(0)
try:
    torch.load(buf, weights_only=True)
    print("weights_only module: loaded")
except Exception as e:
    print("weights_only module:", type(e).__name__)
buf.seek(0)
whole = torch.load(buf, weights_only=False)
print("whole module:", type(whole).__name__, torch.equal(whole(x), model(x)))
buf = io.BytesIO()
torch.save({"n": 1, "s": "text", "l": [1, 2.0], "t": (None, True)}, buf)
buf.seek(0)
print("python values:", torch.load(buf, weights_only=True))
