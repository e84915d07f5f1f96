# The "Automatic Mixed Precision" recipe's training loop with its use_amp switch (off on
# CPU: autocast and GradScaler pass through), then GradScaler on its own: loss scaling,
# unscale_ before clipping, a skipped step on an inf gradient, scale backoff and growth,
# and the scaler's state in a checkpoint.
import io

import numpy as np
import torch

device = "cuda" if torch.cuda.is_available() else "cpu"
rng = np.random.default_rng(0)


def make_model(in_size, out_size, num_layers):
    layers = []
    for _ in range(num_layers - 1):
        layers.append(torch.nn.Linear(in_size, in_size))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(in_size, out_size))
    net = torch.nn.Sequential(*tuple(layers))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
    return net.to(device)


batch_size, in_size, out_size, num_layers, num_batches, epochs = 16, 32, 8, 3, 4, 2
data = [
    torch.from_numpy(rng.standard_normal((batch_size, in_size)).astype(np.float32))
    for _ in range(num_batches)
]
targets = [
    torch.from_numpy(rng.standard_normal((batch_size, out_size)).astype(np.float32))
    for _ in range(num_batches)
]
loss_fn = torch.nn.MSELoss().to(device)

use_amp = False
net = make_model(in_size, out_size, num_layers)
opt = torch.optim.SGD(net.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cuda" if device == "cuda" else "cpu", enabled=use_amp)
for epoch in range(epochs):
    for input, target in zip(data, targets):
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
            output = net(input)
            loss = loss_fn(output, target)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    print(
        f"epoch {epoch} loss {loss.item():.6f} scale {scaler.get_scale()} "
        f"enabled {scaler.is_enabled()}"
    )

# an enabled scaler (on CPU)
net = make_model(in_size, out_size, num_layers)
opt = torch.optim.SGD(net.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
for step, (input, target) in enumerate(zip(data, targets)):
    loss = loss_fn(net(input), target)
    scaled = scaler.scale(loss)
    scaled.backward()
    if step == 1:  # an overflow: the step is skipped and the scale halves
        with torch.no_grad():
            net[0].weight.grad[0, 0] = float("inf")
    scaler.unscale_(opt)
    total = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
    before = net[0].bias.detach().clone()
    scaler.step(opt)
    scaler.update()
    opt.zero_grad()
    print(
        f"scaled step {step}: loss {loss.item():.6f} scaled {scaled.item():.3f} "
        f"grad norm {float(total):.5f} "
        f"stepped {not torch.equal(before, net[0].bias)} next scale {scaler.get_scale()}"
    )
state = scaler.state_dict()
print("scaler state:", state)
buffer = io.BytesIO()
torch.save(
    {"model": net.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict()},
    buffer,
)
buffer.seek(0)
checkpoint = torch.load(buffer)
scaler2 = torch.amp.GradScaler("cpu")
scaler2.load_state_dict(checkpoint["scaler"])
print("restored scale:", scaler2.get_scale(), scaler2.state_dict()["_growth_tracker"])
try:
    scaler.unscale_(opt)
    scaler.unscale_(opt)
except RuntimeError as e:
    print("double unscale_:", type(e).__name__)
