# nn.Module hooks (docs of register_forward_pre_hook / register_forward_hook with
# with_kwargs and prepend, register_full_backward_pre_hook, register_full_backward_hook),
# the global module hooks, and the state_dict / load_state_dict hooks.
import torch
import torch.nn as nn


class Scaler(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
            self.lin.bias.copy_(torch.tensor([0.05, -0.05]))

    def forward(self, x, scale=1.0):
        return self.lin(x) * scale


m = Scaler()
x = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
calls = []


def pre_hook_kwargs(module, args, kwargs):
    calls.append(("pre", sorted(kwargs)))
    kwargs = dict(kwargs, scale=kwargs.get("scale", 1.0) * 10)
    return args, kwargs


def post_hook_kwargs(module, args, kwargs, output):
    calls.append(("post", kwargs["scale"]))
    return output + 1


h1 = m.register_forward_pre_hook(pre_hook_kwargs, with_kwargs=True)
h2 = m.register_forward_hook(post_hook_kwargs, with_kwargs=True)
out = m(x, scale=2.0)
print("kwargs hooks:", out.detach().numpy().round(5).tolist(), calls)
h1.remove()
h2.remove()
order = []
m.register_forward_hook(lambda mod, a, o: order.append("first"))
m.register_forward_hook(lambda mod, a, o: order.append("prepended"), prepend=True)
m(x)
print("prepend order:", order)

# backward hooks: the pre hook may replace grad_output, the hook may replace grad_input
bw = []


def backward_pre_hook(module, grad_output):
    bw.append(("pre", grad_output[0].tolist()))
    return (grad_output[0] * 2,)


def backward_hook(module, grad_input, grad_output):
    bw.append(("post", grad_input[0].numpy().round(5).tolist(), grad_output[0].tolist()))


lin = m.lin
lin.register_full_backward_pre_hook(backward_pre_hook)
lin.register_full_backward_hook(backward_hook)
y = lin(x)
y.sum().backward()
for entry in bw:
    print("backward", *entry)
print("input grad:", x.grad.numpy().round(5).tolist())
print("weight grad:", lin.weight.grad.numpy().round(5).tolist())

# global hooks apply to every module
seen = []
handle = nn.modules.module.register_module_forward_hook(
    lambda mod, inp, out: seen.append(type(mod).__name__)
)
net = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
net(torch.ones(1, 3))
handle.remove()
net(torch.ones(1, 3))
print("global hook saw:", seen)


# state_dict hooks
class WithHooks(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


w = WithHooks()
log = []
w.register_state_dict_pre_hook(lambda module, prefix, keep_vars: log.append(("sd pre", prefix)))


def load_pre(
    module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
):
    log.append(("load pre", sorted(state_dict)))
    if prefix + "fc.w" in state_dict:  # a renamed key from an old checkpoint
        state_dict[prefix + "fc.weight"] = state_dict.pop(prefix + "fc.w")


w._register_load_state_dict_pre_hook(load_pre, with_module=True)
w.register_load_state_dict_post_hook(
    lambda module, incompatible_keys: log.append(("load post", incompatible_keys.missing_keys))
)
sd = w.state_dict()
old = {"fc.w": torch.eye(2), "fc.bias": torch.zeros(2)}
result = w.load_state_dict(old)
for entry in log:
    print("state hook", *entry)
print("renamed key loaded:", w.fc.weight.tolist(), result.missing_keys, result.unexpected_keys)
