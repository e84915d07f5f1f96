# The autograd docs' "Backward Hooks execution" notes and the hooks tutorial: a Tensor
# hook and retain_grad on an intermediate, Node pre-hooks (grad_fn.register_prehook) and
# Node hooks (grad_fn.register_hook) seeing grad_outputs / grad_inputs, the order in which
# they run, hooks returning a replacement gradient, RemovableHandle.remove(), hooks on a
# custom Function's node, gradient clipping written as a Node hook, and
# torch.autograd.graph.register_multi_grad_hook in its "all" and "any" modes.
import torch

log = []
a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
b = a * 3
c = b.sin()
loss = (c * a).sum()


def tensor_hook(grad):
    log.append(("tensor hook on b", [round(v, 5) for v in grad.tolist()]))


def pre_hook(grad_outputs):
    log.append(("prehook of MulBackward0", len(grad_outputs)))
    return (grad_outputs[0] * 0.5,)


def node_hook(grad_inputs, grad_outputs):
    log.append(
        (
            "hook of MulBackward0",
            [None if g is None else [round(v, 5) for v in g.tolist()] for g in grad_inputs],
        )
    )


b.retain_grad()
h_tensor = b.register_hook(tensor_hook)
h_pre = b.grad_fn.register_prehook(pre_hook)
h_post = b.grad_fn.register_hook(node_hook)
print("grad_fn:", b.grad_fn.name(), "handle:", type(h_pre).__name__)
loss.backward(retain_graph=True)
for entry in log:
    print(*entry)
print("a.grad (halved through b):", [round(v, 5) for v in a.grad.tolist()])
print("b.grad:", [round(v, 5) for v in b.grad.tolist()])

log.clear()
a.grad = None
for h in (h_tensor, h_pre, h_post):
    h.remove()
loss.backward(retain_graph=True)
print("after remove:", len(log), [round(v, 5) for v in a.grad.tolist()])

# a Node hook that replaces the gradients flowing to the inputs (clip them to [-1, 1])
a.grad = None
handle = c.grad_fn.register_hook(
    lambda gi, go: tuple(None if g is None else g.clamp(-1, 1) for g in gi)
)
loss.backward(retain_graph=True)
print("clipped at sin's node:", [round(v, 5) for v in a.grad.tolist()])
handle.remove()


class ScaleAndShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x * scale + 1

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.scale, None


x = torch.linspace(-1, 1, 4, requires_grad=True)
y = ScaleAndShift.apply(x, 2.5)
seen = []
y.grad_fn.register_prehook(lambda go: seen.append(("pre", [round(v, 4) for v in go[0].tolist()])))
y.grad_fn.register_hook(
    lambda gi, go: seen.append(("post", [round(v, 4) for v in gi[0].tolist()], len(gi)))
)
(y**2).sum().backward()
print("custom Function node hooks:", seen)
print("x.grad:", [round(v, 4) for v in x.grad.tolist()])

# module full backward hooks run as Node hooks too: grad_input / grad_output of a Linear
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.5, 0.4, -0.6]]))
    lin.bias.zero_()
seen.clear()
lin.register_full_backward_pre_hook(
    lambda m, go: seen.append(("module pre", [round(v, 4) for v in go[0].flatten().tolist()]))
)
lin.register_full_backward_hook(
    lambda m, gi, go: seen.append(("module", [round(v, 4) for v in gi[0].flatten().tolist()]))
)
inp = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
lin(inp).pow(2).sum().backward()
print("module hooks:", seen)

# one hook over several tensors' gradients (the docs' register_multi_grad_hook example)
p = torch.tensor([1.0, 2.0], requires_grad=True)
q = torch.tensor([3.0, -1.0], requires_grad=True)
r = p * q
s = p * q


def on_all(grads):
    print("multi all:", [None if g is None else g.tolist() for g in grads])


multi = torch.autograd.graph.register_multi_grad_hook((p, q, r, s), on_all)
r.sum().backward(retain_graph=True)
(r * 2 + s).sum().backward(retain_graph=True)
first = torch.autograd.graph.register_multi_grad_hook(
    (p, q), lambda g: print("multi any:", g.tolist()), mode="any"
)
(r.sum() * 3).backward(retain_graph=True)
multi.remove()
first.remove()
r.sum().backward()
print("after removal:", p.grad.tolist(), type(multi).__name__)
