# "Hooks for autograd saved tensors": torch.autograd.graph.saved_tensors_hooks with
# pack / unpack hooks (counting, a pack that stores a copy, a pack to another dtype and
# back, a pack that returns an index into a list), save_on_cpu, and the effect on
# gradients (identical to running without hooks); plus grad_fn._saved_self /
# _saved_other and their _raw_saved_ counterparts.
import torch

a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = a.exp()
print("saved result is b:", b.grad_fn._saved_result.equal(b), b.grad_fn._saved_result is b)
x = torch.tensor([0.5, -1.5], requires_grad=True)
y = x.pow(2)
print("saved self:", y.grad_fn._saved_self, y.grad_fn._saved_self is x)
print("saved exponent:", y.grad_fn._saved_exponent)

counts = {"pack": 0, "unpack": 0}


def pack_hook(t):
    counts["pack"] += 1
    return t.clone()


def unpack_hook(t):
    counts["unpack"] += 1
    return t


w = torch.linspace(-1, 1, 6, requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):
    out = (w * w).sin().sum()
print("packed:", counts["pack"])
out.backward()
print("unpacked:", counts["unpack"])
g_hooks = w.grad.clone()
w.grad = None
(w * w).sin().sum().backward()
print("same grad:", torch.equal(g_hooks, w.grad))

storage = []


def pack_to_list(t):
    storage.append(t)
    return len(storage) - 1


def unpack_from_list(i):
    return storage[i]


v = torch.tensor([1.0, 4.0, 9.0], requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(pack_to_list, unpack_from_list):
    r = (v.sqrt() * v).sum()
print("stored:", len(storage) > 0)
r.backward()
print("grad via list:", v.grad)


def pack_half(t):
    return t.to(torch.float64), t.dtype


def unpack_half(packed):
    t, dtype = packed
    return t.to(dtype)


m = torch.tensor([0.25, 0.5], requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(pack_half, unpack_half):
    q = (m * m * m).sum()
q.backward()
print("grad via float64:", m.grad, m.grad.dtype)

p = torch.tensor([2.0, 3.0], requires_grad=True)
with torch.autograd.graph.save_on_cpu(pin_memory=False):
    s = (p.exp() * p).sum()
s.backward()
print("save_on_cpu grad:", p.grad)

# hooks do not apply outside the context
counts["pack"] = 0
with torch.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook):
    pass
(w * 2).sum()
(w * w).sum()
print("outside:", counts["pack"])
