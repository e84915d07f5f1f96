# torch.func tutorials "Per-sample-gradients" (vmap + grad + functional_call over a small
# CNN, checked against the per-example loop) and "Model ensembling" (stack_module_state,
# a 'meta' base model, vmap over the stacked parameters with the same and different
# minibatches).
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

torch.manual_seed(0)
rng = np.random.default_rng(0)


def set_weights(model, scale=0.3):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-scale, scale, tuple(p.shape)).astype(np.float32)))
    return model


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def loss_fn(predictions, targets):
    return F.nll_loss(predictions, targets)


device = "cpu"
num_models = 10
batch_size = 8
data = torch.from_numpy(rng.standard_normal((batch_size, 1, 8, 8)).astype(np.float32))
targets = torch.from_numpy(rng.integers(0, 10, batch_size))
model = set_weights(SimpleCNN().to(device=device))


def compute_grad(sample, target):
    sample = sample.unsqueeze(0)  # prepend batch dimension for processing
    target = target.unsqueeze(0)
    prediction = model(sample)
    loss = loss_fn(prediction, target)
    return torch.autograd.grad(loss, list(model.parameters()))


def compute_sample_grads(data, targets):
    """manually process each sample with per sample gradient"""
    sample_grads = [compute_grad(data[i], targets[i]) for i in range(batch_size)]
    sample_grads = zip(*sample_grads)
    sample_grads = [torch.stack(shards) for shards in sample_grads]
    return sample_grads


per_sample_grads = compute_sample_grads(data, targets)
print("loop grad shapes:", [list(g.shape) for g in per_sample_grads])
print("conv1 weight grad [0]:", per_sample_grads[0][0].flatten()[:5].numpy().round(5).tolist())

params = {k: v.detach() for k, v in model.named_parameters()}
buffers = {k: v.detach() for k, v in model.named_buffers()}


def compute_loss(params, buffers, sample, target):
    batch = sample.unsqueeze(0)
    targets = target.unsqueeze(0)
    predictions = functional_call(model, (params, buffers), (batch,))
    loss = loss_fn(predictions, targets)
    return loss


ft_compute_grad = grad(compute_loss)
ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)
for per_sample_grad, ft_per_sample_grad in zip(per_sample_grads, ft_per_sample_grads.values()):
    assert torch.allclose(per_sample_grad, ft_per_sample_grad, atol=3e-3, rtol=1e-5)
print("vmap grads keys:", list(ft_per_sample_grads.keys()))
print(
    "vmap == loop:",
    all(
        torch.allclose(a, b, atol=1e-5)
        for a, b in zip(per_sample_grads, ft_per_sample_grads.values())
    ),
)
print("fc2 bias per-sample sum:", ft_per_sample_grads["fc2.bias"].sum(0).numpy().round(5).tolist())

# ---- model ensembling


class SimpleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 12)
        self.fc2 = nn.Linear(12, 8)
        self.fc3 = nn.Linear(8, 4)

    def forward(self, x):
        x = x.flatten(1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        x = F.relu(x)
        x = self.fc3(x)
        return x


data = torch.from_numpy(rng.standard_normal((num_models, 6, 1, 4, 4)).astype(np.float32))
models = [set_weights(SimpleMLP().to(device)) for _ in range(num_models)]
minibatches = data[:num_models]
predictions_diff_minibatch_loop = [
    model(minibatch) for model, minibatch in zip(models, minibatches)
]
minibatch = data[0]
predictions2 = [model(minibatch) for model in models]

params, buffers = stack_module_state(models)
print("stacked:", sorted(params.keys()), list(params["fc1.weight"].shape), len(buffers))
base_model = copy.deepcopy(models[0])
base_model = base_model.to("meta")
print("meta base:", base_model.fc1.weight.device.type, list(base_model.fc1.weight.shape))


def fmodel(params, buffers, x):
    return functional_call(base_model, (params, buffers), (x,))


print([p.size(0) for p in params.values()])  # show the leading 'num_models' dimension
print(minibatches.shape)  # verify minibatch has leading dimension of size 'num_models'
predictions1_vmap = vmap(fmodel)(params, buffers, minibatches)
print(
    "diff minibatch:",
    torch.allclose(
        predictions1_vmap, torch.stack(predictions_diff_minibatch_loop), atol=1e-3, rtol=1e-5
    ),
)
predictions2_vmap = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
print(
    "same minibatch:",
    torch.allclose(predictions2_vmap, torch.stack(predictions2), atol=1e-3, rtol=1e-5),
)
print(
    "ensemble out:",
    list(predictions2_vmap.shape),
    predictions2_vmap[3, 2].detach().numpy().round(5).tolist(),
)
