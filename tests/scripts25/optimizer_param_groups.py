# The torch.optim docs' "per-parameter options": param groups with their own lr /
# weight_decay / momentum, defaults for the rest, add_param_group for a layer unfrozen
# later, changing lr in the loop through param_groups, optimizer.state_dict() structure,
# zero_grad(set_to_none=...), no weight decay on biases and norms, and load_state_dict.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
X = torch.from_numpy(rng.standard_normal((32, 4)).astype(np.float32))
Y = torch.from_numpy(rng.standard_normal((32, 1)).astype(np.float32))


def make():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        for _i, prm in enumerate(model.parameters()):
            prm.copy_(
                torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.3)
            )
    return model


model = make()
opt = torch.optim.SGD(
    [{"params": model[0].parameters()}, {"params": model[3].parameters(), "lr": 1e-3}],
    lr=1e-2,
    momentum=0.9,
)
print(
    "groups:",
    len(opt.param_groups),
    [g["lr"] for g in opt.param_groups],
    opt.param_groups[1]["momentum"],
)
print("group keys:", sorted(opt.param_groups[0].keys()))
opt.add_param_group({"params": model[1].parameters(), "lr": 0.05, "momentum": 0.0})
print("after add:", [g["lr"] for g in opt.param_groups], [g["momentum"] for g in opt.param_groups])
loss_fn = nn.MSELoss()
for step in range(6):
    if step == 3:
        for g in opt.param_groups:
            g["lr"] *= 0.5
    opt.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    opt.step()
    print("step", step, round(loss.item(), 5), [g["lr"] for g in opt.param_groups])
sd = opt.state_dict()
print(
    "state_dict keys:", sorted(sd.keys()), "params ids:", [g["params"] for g in sd["param_groups"]]
)
print("state entries:", sorted(sd["state"].keys()), sorted(sd["state"][0].keys()))
print("momentum buffer:", sd["state"][0]["momentum_buffer"].shape)
opt.zero_grad(set_to_none=True)
print("grad none:", model[0].weight.grad is None)
opt.zero_grad(set_to_none=False)
print("grad none after False:", model[0].weight.grad)
model.zero_grad()
# no weight decay on biases and LayerNorm, AdamW
model = make()
decay, no_decay = [], []
for _name, prm in model.named_parameters():
    (no_decay if prm.ndim == 1 else decay).append(prm)
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2
)
print("decay sizes:", len(decay), len(no_decay), [g["weight_decay"] for g in opt.param_groups])
print("defaults:", opt.defaults["betas"], opt.defaults["eps"], opt.defaults["amsgrad"])
for _step in range(5):
    opt.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    opt.step()
print("adamw:", round(loss.item(), 5), round(model[3].weight.sum().item(), 5))
print("adam state:", sorted(opt.state[model[0].weight].keys()), opt.state[model[0].weight]["step"])
saved = opt.state_dict()
opt2 = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2
)
opt2.load_state_dict(saved)
print(
    "loaded:",
    opt2.state_dict()["state"][0]["exp_avg"].sum().item()
    == saved["state"][0]["exp_avg"].sum().item(),
)
print("loaded step:", opt2.state_dict()["state"][0]["step"])
print(opt2)
# freezing: a param with requires_grad False keeps its value
model[0].weight.requires_grad_(False)
before = model[0].weight.clone()
opt = torch.optim.SGD(filter(lambda q: q.requires_grad, model.parameters()), lr=0.1)
loss_fn(model(X), Y).backward()
opt.step()
print("frozen unchanged:", torch.equal(before, model[0].weight), len(opt.param_groups[0]["params"]))
