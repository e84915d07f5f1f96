# Hooks and the autograd graph: Module forward (pre-)hooks and full backward hooks (as in
# "Visualizing models, data, and training" / feature extraction recipes), Tensor hooks,
# retain_grad, grad_fn and next_functions, and hook removal.
import re

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
x = torch.from_numpy(rng.standard_normal((2, 4)).astype(np.float32))

activation = {}


def get_activation(name):
    def hook(model, input, output):
        activation[name] = output.detach()

    return hook


h1 = model[0].register_forward_hook(get_activation("fc1"))
h2 = model[2].register_forward_hook(get_activation("fc2"))
out = model(x)
print("captured:", sorted(activation), activation["fc1"].numpy().round(5)[0].tolist())
print("fc2 equals output:", torch.equal(activation["fc2"], out.detach()))


def scale_input(module, args):
    return (args[0] * 2,)


pre = model[0].register_forward_pre_hook(scale_input)
out2 = model(x)
print("pre-hook doubled input:", torch.allclose(out2, model[2](model[1](model[0].forward(x * 2)))))
pre.remove()
print("after remove:", torch.allclose(model(x), out))


def replace_output(module, input, output):
    return output + 1


h3 = model[2].register_forward_hook(replace_output)
print("output replaced:", torch.allclose(model(x), out + 1))
h3.remove()
h1.remove()
h2.remove()

grads = {}


def save_grad(name):
    def hook(module, grad_input, grad_output):
        grads[name] = (
            [None if g is None else g.detach().clone() for g in grad_input],
            [g.detach().clone() for g in grad_output],
        )

    return hook


bh = model[2].register_full_backward_hook(save_grad("fc2"))
xi = x.clone().requires_grad_()
loss = model(xi).pow(2).sum()
loss.backward()
gi, go = grads["fc2"]
print("backward hook grad_output:", go[0].numpy().round(5).tolist())
print("backward hook grad_input:", gi[0].numpy().round(5).tolist())
bh.remove()


def clip_hook(module, grad_input, grad_output):
    return (grad_input[0].clamp(-0.1, 0.1),)


model.zero_grad()
xi = x.clone().requires_grad_()
h = model[0].register_full_backward_hook(clip_hook)
model(xi).sum().backward()
print("grad_input replaced:", float(xi.grad.abs().max()) <= 0.1 + 1e-7)
h.remove()

# tensor hooks and retain_grad
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = a * 2
b.retain_grad()
c = b.exp()
seen = []
handle = b.register_hook(lambda g: seen.append(g.clone()))
c.register_hook(lambda g: g * 10)
c.sum().backward()
print("retain_grad:", b.grad.numpy().round(4).tolist(), "seen:", seen[0].numpy().round(4).tolist())
print("a.grad:", a.grad.numpy().round(4).tolist())
handle.remove()

# the graph
y = (a * 3).sin().sum()
print(f"Gradient function for y = {re.sub(' object at 0x[0-9a-f]+', '', repr(y.grad_fn))}")
print("grad_fn:", y.grad_fn.name())
print("grad_fn class:", type(y.grad_fn).__name__)
fn, _ = y.grad_fn.next_functions[0]
print("next:", fn.name(), [f.name() if f is not None else None for f, _ in fn.next_functions])
leaf = (a * 1).grad_fn.next_functions[0][0]
print("leaf accumulator:", type(leaf).__name__, leaf.variable is a)
print("requires_grad / is_leaf:", a.is_leaf, y.is_leaf, a.grad_fn is None)

# a hook on a parameter's gradient, e.g. for gradient clipping per parameter
model.zero_grad()
for p in model.parameters():
    p.register_hook(lambda grad: torch.clamp(grad, -0.05, 0.05))
model(x).pow(2).sum().backward()
print("clamped grads:", max(float(p.grad.abs().max()) for p in model.parameters()) <= 0.05 + 1e-7)
