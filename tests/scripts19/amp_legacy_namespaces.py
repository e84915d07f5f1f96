# The AMP recipe as many existing scripts still write it, with the older namespaces:
# use_amp = torch.cuda.is_available(), scaler = torch.cuda.amp.GradScaler(enabled=use_amp),
# with torch.cuda.amp.autocast(enabled=use_amp) (both pass through on a CPU), scaler.scale /
# step / update / get_scale, then torch.cpu.amp.autocast (bfloat16) for inference, and
# torch.nn.utils.stateless.functional_call from the same era.
import warnings

import torch
import torch.nn as nn

warnings.simplefilter("ignore")
use_amp = torch.cuda.is_available()
device = "cuda" if use_amp else "cpu"
print("use_amp:", use_amp)
net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 2)).to(
    device
)
with torch.no_grad():
    for i, p in enumerate(net.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.45 + i).reshape(p.shape)
            * 0.4
        )
opt = torch.optim.SGD(net.parameters(), lr=0.05)
scaler = torch.cuda.amp.GradScaler(enabled=use_amp)
print("scaler enabled:", scaler.is_enabled())
data = [torch.linspace(-1, 1, 8 * 6).reshape(8, 6).roll(k, 0) * (1 + k / 10) for k in range(4)]
targets = [torch.cos(d[:, :2] * 3) for d in data]
loss_fn = nn.MSELoss()
for epoch in range(3):
    for input, target in zip(data, targets):
        with torch.cuda.amp.autocast(enabled=use_amp):
            output = net(input)
            loss = loss_fn(output, target)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    print("epoch", epoch, "loss", round(loss.item(), 6), "dtype", output.dtype)
print("scale:", scaler.get_scale(), "state:", sorted(scaler.state_dict()))
with torch.no_grad(), torch.cpu.amp.autocast():
    out = net(data[0])
print("cpu autocast dtype:", out.dtype)
print("cpu autocast close:", torch.allclose(out.float(), net(data[0]), atol=0.05))
params = {k: v * 0.5 for k, v in net.named_parameters()}
out = torch.nn.utils.stateless.functional_call(net, params, (data[1],))
print("stateless functional_call:", out[0].detach().numpy().round(5).tolist())
print("module unchanged:", round(net[0].weight.sum().item(), 5))
