# The torch.nn.Module / container docs examples: apply(init_weights), add_module /
# register_module, get_submodule / get_parameter / get_buffer, named_modules (shared
# modules listed once, prefix, remove_duplicate), children, train/eval, zero_grad,
# extra_repr, Sequential / ModuleList / ModuleDict / ParameterList / ParameterDict
# operations, Unflatten, tied weights, and nn.utils helpers (parameters_to_vector,
# fuse_conv_bn_eval, skip_init).
from collections import OrderedDict

import torch
import torch.nn as nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.nn.utils.fusion import fuse_conv_bn_eval


@torch.no_grad()
def init_weights(m):
    if type(m) is nn.Linear:
        m.weight.fill_(1.0)
        m.bias.fill_(0.01)


net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
visited = []
net.apply(lambda m: visited.append(type(m).__name__))
net.apply(init_weights)
print("apply order:", visited)
print("init:", net[0].weight.tolist(), net[1].bias.tolist())

l = nn.Linear(2, 2)
net = nn.Sequential(l, l)
print("shared listed once:", [(n, type(m).__name__) for n, m in net.named_modules()])
print("remove_duplicate=False:", [n for n, _ in net.named_modules(remove_duplicate=False)])
print("prefix:", [n for n, _ in net.named_modules(prefix="model")])
print("shared params once:", len(list(net.parameters())), [n for n, _ in net.named_parameters()])
print("state_dict keeps both:", list(net.state_dict()))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [("conv", nn.Conv2d(1, 4, 3)), ("bn", nn.BatchNorm2d(4)), ("act", nn.ReLU())]
            )
        )
        self.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.register_module("head", nn.Linear(4, 3))
        self.unflatten = nn.Unflatten(1, (3, 1))

    def forward(self, x):
        x = self.pool(self.features(x)).flatten(1)
        return self.unflatten(self.head(x))

    def extra_repr(self):
        return "custom=True"


torch.manual_seed(0)
model = Model()
print(model)
print("children:", [n for n, _ in model.named_children()])
print("get_submodule:", type(model.get_submodule("features.bn")).__name__)
print("get_parameter:", tuple(model.get_parameter("features.conv.weight").shape))
print("get_buffer:", model.get_buffer("features.bn.running_var").tolist())
try:
    model.get_submodule("features.nope")
except AttributeError:
    print("missing submodule: AttributeError")
print("named_parameters(recurse=False):", list(model.named_parameters(recurse=False)))
print("buffers:", [n for n, _ in model.named_buffers()])
model.eval()
print("eval propagates:", [m.training for m in model.modules()][:3])
model.train()
print("train propagates:", all(m.training for m in model.modules()))
x = torch.linspace(-1, 1, 2 * 36).reshape(2, 1, 6, 6)
out = model(x)
print("unflatten:", list(out.shape))
out.sum().backward()
model.zero_grad()
print("zero_grad set_to_none:", model.head.weight.grad is None)
out = model(x)
out.sum().backward()
model.zero_grad(set_to_none=False)
print("zero_grad to zeros:", model.head.weight.grad.abs().sum().item())

seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
print("slice:", type(seq[1:]).__name__, len(seq[1:]), type(seq[-1]).__name__)
seq.append(nn.Softmax(dim=1))
seq.insert(0, nn.Identity())
print("append/insert:", [type(m).__name__ for m in seq])
seq.pop(0)
del seq[-1]
print("pop/del:", [type(m).__name__ for m in seq], len(seq))
layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
layers.append(nn.ReLU())
layers.extend([nn.Tanh(), nn.Sigmoid()])
layers.insert(1, nn.Identity())
print("ModuleList:", [type(m).__name__ for m in layers], type(layers[1:3]).__name__)
print("ModuleList + :", len(layers + nn.ModuleList([nn.ReLU()])))
choices = nn.ModuleDict({"conv": nn.Conv2d(1, 1, 3), "pool": nn.MaxPool2d(3)})
choices.update([("lrelu", nn.LeakyReLU()), ("prelu", nn.PReLU())])
print(
    "ModuleDict:",
    list(choices.keys()),
    "conv" in choices,
    type(choices.pop("pool")).__name__,
    len(choices),
)
params = nn.ParameterList([nn.Parameter(torch.ones(2)) for _ in range(3)])
params.append(nn.Parameter(torch.zeros(1)))
print(
    "ParameterList:",
    len(params),
    [tuple(p.shape) for p in params],
    [n for n, _ in params.named_parameters()],
)
pdict = nn.ParameterDict(
    {"left": nn.Parameter(torch.ones(2)), "right": nn.Parameter(torch.zeros(2))}
)
pdict["extra"] = nn.Parameter(torch.full((1,), 3.0))
print(
    "ParameterDict:",
    list(pdict.keys()),
    pdict["extra"].item(),
    sorted(n for n, _ in pdict.named_parameters()),
)

# tied weights (the word language model's decoder.weight = encoder.weight)
encoder, decoder = nn.Embedding(5, 3), nn.Linear(3, 5)
decoder.weight = encoder.weight
tied = nn.ModuleDict({"encoder": encoder, "decoder": decoder})
print(
    "tied:", decoder.weight is encoder.weight, len(list(tied.parameters())), list(tied.state_dict())
)

vec = parameters_to_vector(seq.parameters())
print(
    "parameters_to_vector:",
    vec.shape,
    round(vec.sum().item(), 4) == round(sum(p.sum().item() for p in seq.parameters()), 4),
)
vector_to_parameters(torch.arange(vec.numel(), dtype=torch.float32), seq.parameters())
print("vector_to_parameters:", seq[0].bias.tolist())

conv, bn = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)
with torch.no_grad():
    conv.weight.copy_(torch.linspace(-1, 1, 36).reshape(4, 1, 3, 3))
    conv.bias.copy_(torch.tensor([0.2, -0.1, 0.0, 0.3]))
    bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    bn.running_var.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
conv.eval()
bn.eval()
fused = fuse_conv_bn_eval(conv, bn)
print(
    "fused conv-bn:",
    torch.allclose(fused(x), bn(conv(x)), atol=1e-5),
    fused.bias.detach().numpy().round(5).tolist(),
)
skipped = nn.utils.skip_init(nn.Linear, 4, 2)
print("skip_init:", tuple(skipped.weight.shape), type(skipped).__name__)
print("repr Linear:", nn.Linear(3, 2, bias=False))
print("repr Conv:", nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=False))
