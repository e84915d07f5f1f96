# Checkpoint averaging as fairseq / timm scripts do it: several training snapshots saved
# to BytesIO with torch.save, loaded back with map_location="cpu", floating-point entries
# averaged (summed in float64 then divided, cast back to the original dtype), integer
# buffers such as num_batches_tracked taken from the last checkpoint, the average loaded
# with load_state_dict (strict), compared with a stack-and-mean average, and a
# state_dict(keep_vars=True) view that shares storage with the parameters.
import copy
import io

import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.5 + i).view_as(p) * 0.4)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x = torch.linspace(-1, 1, 24).view(8, 3)
y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
snapshots = []
for step in range(6):
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step >= 3:
        buffer = io.BytesIO()
        torch.save({"model": model.state_dict(), "step": step}, buffer)
        snapshots.append(buffer.getvalue())
print("snapshots:", len(snapshots))

states = [torch.load(io.BytesIO(b), map_location="cpu")["model"] for b in snapshots]
averaged = {}
for k in states[0]:
    if states[0][k].is_floating_point():
        total = sum(s[k].double() for s in states)
        averaged[k] = (total / len(states)).to(states[0][k].dtype)
    else:
        averaged[k] = states[-1][k].clone()
print(
    "int buffer:", averaged["1.num_batches_tracked"].item(), averaged["1.num_batches_tracked"].dtype
)
stacked = {
    k: torch.stack([s[k].float() for s in states]).mean(0)
    for k in states[0]
    if states[0][k].is_floating_point()
}
print(
    "stack mean agrees:", all(torch.allclose(averaged[k], stacked[k], atol=1e-7) for k in stacked)
)
avg_model = copy.deepcopy(model)
result = avg_model.load_state_dict(averaged)
print("load result:", result)
avg_model.eval()
print("averaged out:", avg_model(x[:2]))
print("avg weight:", avg_model[0].weight[0])
print("running_mean:", avg_model[1].running_mean)

view = model.state_dict(keep_vars=True)
print("keep_vars is param:", view["0.weight"] is model[0].weight, view["0.weight"].requires_grad)
detached = model.state_dict()
print(
    "default shares storage:",
    detached["0.weight"].data_ptr() == model[0].weight.data_ptr(),
    detached["0.weight"].requires_grad,
)
with torch.no_grad():
    detached["0.bias"].add_(1.0)
print("write through state_dict:", torch.equal(detached["0.bias"], model[0].bias))
