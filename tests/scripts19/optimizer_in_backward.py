# "How to save memory by fusing the optimizer step into the backward pass": one optimizer
# per parameter in a dict, Tensor.register_post_accumulate_grad_hook running
# optimizer_dict[p].step() and zero_grad() as each gradient is ready, a training loop
# without an optimizer.step() call, and the same run with a single optimizer for
# comparison; plus the "Hooks for autograd saved tensors" tutorial's pack / unpack hooks
# that store saved tensors in temporary files with torch.save / torch.load.
import os
import tempfile
import uuid

import torch
import torch.nn as nn


def make():
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.5 + i).reshape(p.shape)
                * 0.5
            )
    return model


x = torch.linspace(-1, 1, 40).reshape(8, 5)
y = torch.cos(x[:, :2] * 2)

reference = make()
ref_opt = torch.optim.Adam(reference.parameters(), lr=0.05)
for _ in range(4):
    ref_opt.zero_grad()
    nn.functional.mse_loss(reference(x), y).backward()
    ref_opt.step()

model = make()
optimizer_dict = {p: torch.optim.Adam([p], lr=0.05, foreach=False) for p in model.parameters()}


def optimizer_hook(parameter) -> None:
    optimizer_dict[parameter].step()
    optimizer_dict[parameter].zero_grad()


for p in model.parameters():
    p.register_post_accumulate_grad_hook(optimizer_hook)
for step in range(4):
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    print(
        "step",
        step,
        round(loss.item(), 6),
        "grads cleared:",
        all(p.grad is None for p in model.parameters()),
    )
print(
    "same as one optimizer:",
    all(
        torch.allclose(a, b, atol=1e-6) for a, b in zip(model.parameters(), reference.parameters())
    ),
)

# saved tensors offloaded to disk
tmp_dir_obj = tempfile.TemporaryDirectory()
tmp_dir = tmp_dir_obj.name
written = []


class SelfDeletingTempFile:
    def __init__(self):
        self.name = os.path.join(tmp_dir, str(uuid.uuid4()))

    def __del__(self):
        if os.path.exists(self.name):
            os.remove(self.name)


def pack_hook(tensor):
    temp_file = SelfDeletingTempFile()
    torch.save(tensor, temp_file.name)
    written.append(tuple(tensor.shape))
    return temp_file


def unpack_hook(temp_file):
    return torch.load(temp_file.name, weights_only=True)


a = torch.linspace(0.1, 1.0, 6, requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):
    out = (a.exp() * a.sin()).sum()
out.backward()
print("offloaded shapes:", sorted(written))
print("grad through disk:", [round(v, 5) for v in a.grad.tolist()])
b = a.detach().requires_grad_()
(b.exp() * b.sin()).sum().backward()
print("equals in-memory:", torch.allclose(a.grad, b.grad))
