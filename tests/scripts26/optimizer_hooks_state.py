# Optimizer extension points of torch.optim.Optimizer: register_step_pre_hook /
# register_step_post_hook (a step counter, a hook that reads the learning rate), the
# global register_optimizer_step_post_hook, state_dict / load_state_dict hooks
# (register_state_dict_post_hook adding a field, register_load_state_dict_pre_hook
# reading it), add_param_group, and zero_grad(set_to_none=False) leaving zero tensors.
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

model = nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.5]]))
    model.bias.copy_(torch.tensor([0.05, -0.05]))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
events = []


def pre(optimizer, args, kwargs):
    events.append(("pre", optimizer.param_groups[0]["lr"]))


def post(optimizer, args, kwargs):
    events.append(("post", len(optimizer.state)))


h_pre = opt.register_step_pre_hook(pre)
h_post = opt.register_step_post_hook(post)
h_global = register_optimizer_step_post_hook(
    lambda o, a, k: events.append(("global", type(o).__name__))
)
x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
for _step in range(2):
    opt.zero_grad()
    model(x).pow(2).sum().backward()
    opt.step()
for e in events:
    print("event:", *e)
h_pre.remove()
h_post.remove()
h_global.remove()
events.clear()
opt.step()
print("after remove:", events)


def sd_post(optimizer, state_dict):
    state_dict["note"] = "v2"
    return state_dict


opt.register_state_dict_post_hook(sd_post)
sd = opt.state_dict()
print("note:", sd.get("note"), sorted(sd.keys()))

seen = []


def load_pre(optimizer, state_dict):
    seen.append(state_dict.pop("note", None))
    return state_dict


opt2 = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
opt2.register_load_state_dict_pre_hook(load_pre)
opt2.load_state_dict(sd)
print("load saw:", seen, opt2.param_groups[0]["lr"])
print(
    "momentum equal:",
    torch.equal(
        opt2.state[model.weight]["momentum_buffer"], opt.state[model.weight]["momentum_buffer"]
    ),
)

extra = nn.Parameter(torch.tensor([1.0, -1.0]))
opt.add_param_group({"params": [extra], "lr": 0.01})
print("groups:", len(opt.param_groups), opt.param_groups[1]["momentum"], opt.param_groups[1]["lr"])
try:
    opt.add_param_group({"params": [extra]})
except ValueError as e:
    print("duplicate error:", "some parameters appear in more than one parameter group" in str(e))

opt.zero_grad(set_to_none=False)
print("zeros:", model.weight.grad, extra.grad)
(extra * 3).sum().backward()
opt.step()
print("extra after:", extra.data)
opt.zero_grad()
print("none:", model.weight.grad, extra.grad)
