# The earlier "Learning PyTorch with Examples" sequence, on its two-layer ReLU network
# (N, D_in, H, D_out): the NumPy warm-up, tensors with a hand-written backward pass
# (clamp, t(), mm), autograd with torch.no_grad updates, the MyReLU custom Function,
# nn.Sequential with MSELoss(reduction="sum"), optim.Adam, the TwoLayerNet module and
# the DynamicNet reusing its middle layer a data-dependent number of times.
import numpy as np
import torch

N, D_in, H, D_out = 16, 20, 12, 4
rng = np.random.default_rng(0)
x_np = rng.standard_normal((N, D_in)).astype(np.float32)
y_np = rng.standard_normal((N, D_out)).astype(np.float32)
w1_np = (rng.standard_normal((D_in, H)) * 0.1).astype(np.float32)
w2_np = (rng.standard_normal((H, D_out)) * 0.1).astype(np.float32)
learning_rate = 1e-3

# --- warm-up: numpy
w1, w2 = w1_np.copy(), w2_np.copy()
for _t in range(50):
    h = x_np.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = np.square(y_pred - y_np).sum()
    grad_y_pred = 2.0 * (y_pred - y_np)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x_np.T.dot(grad_h)
    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * grad_w2
numpy_loss = float(loss)

# --- tensors, manual backward
dtype = torch.float
device = torch.device("cpu")
x = torch.from_numpy(x_np).to(device)
y = torch.from_numpy(y_np).to(device)
w1 = torch.from_numpy(w1_np.copy())
w2 = torch.from_numpy(w2_np.copy())
for _t in range(50):
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)
    loss = (y_pred - y).pow(2).sum().item()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h_relu = grad_y_pred.mm(w2.t())
    grad_h = grad_h_relu.clone()
    grad_h[h < 0] = 0
    grad_w1 = x.t().mm(grad_h)
    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * grad_w2
print("numpy vs tensors:", round(numpy_loss, 3), round(loss, 3))
print("tensors w2 row0:", [round(v, 5) for v in w2[0].tolist()])

# --- autograd
w1 = torch.tensor(w1_np, requires_grad=True)
w2 = torch.tensor(w2_np, requires_grad=True)
for t in range(50):
    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    if t % 25 == 24:
        print("autograd", t, round(loss.item(), 4))
    loss.backward()
    with torch.no_grad():
        w1 -= learning_rate * w1.grad
        w2 -= learning_rate * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


w1 = torch.tensor(w1_np, requires_grad=True)
w2 = torch.tensor(w2_np, requires_grad=True)
for _t in range(50):
    relu = MyReLU.apply
    y_pred = relu(x.mm(w1)).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w1 -= learning_rate * w1.grad
        w2 -= learning_rate * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()
print("custom relu loss:", round(loss.item(), 4))


def load(model):
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(w1_np.T.copy()))
        model[0].bias.fill_(0.01)
        model[2].weight.copy_(torch.from_numpy(w2_np.T.copy()))
        model[2].bias.fill_(-0.01)
    return model


# --- nn
model = load(
    torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.ReLU(), torch.nn.Linear(H, D_out))
)
loss_fn = torch.nn.MSELoss(reduction="sum")
for _t in range(50):
    y_pred = model(x)
    loss = loss_fn(y_pred, y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad
print("nn loss:", round(loss.item(), 4))

# --- optim
model = load(
    torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.ReLU(), torch.nn.Linear(H, D_out))
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for _t in range(60):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print("adam loss:", round(loss.item(), 3))


class TwoLayerNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out):
        super().__init__()
        self.linear1 = torch.nn.Linear(D_in, H)
        self.linear2 = torch.nn.Linear(H, D_out)

    def forward(self, x):
        h_relu = self.linear1(x).clamp(min=0)
        return self.linear2(h_relu)


net = TwoLayerNet(D_in, H, D_out)
net.load_state_dict(
    {
        "linear1.weight": torch.from_numpy(w1_np.T.copy()),
        "linear1.bias": torch.zeros(H),
        "linear2.weight": torch.from_numpy(w2_np.T.copy()),
        "linear2.bias": torch.zeros(D_out),
    }
)
optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
for _t in range(40):
    loss = loss_fn(net(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print("TwoLayerNet loss:", round(loss.item(), 4))


class DynamicNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out):
        super().__init__()
        self.input_linear = torch.nn.Linear(D_in, H)
        self.middle_linear = torch.nn.Linear(H, H)
        self.output_linear = torch.nn.Linear(H, D_out)

    def forward(self, x, depth):
        h_relu = self.input_linear(x).clamp(min=0)
        for _ in range(depth):
            h_relu = self.middle_linear(h_relu).clamp(min=0)
        return self.output_linear(h_relu)


dyn = DynamicNet(D_in, H, D_out)
with torch.no_grad():
    for i, p in enumerate(dyn.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) + i).reshape(p.shape) * 0.2)
optimizer = torch.optim.SGD(dyn.parameters(), lr=1e-4, momentum=0.9)
depths = [0, 3, 1, 2, 0, 3, 2, 1]
for t, depth in enumerate(depths):
    loss = loss_fn(dyn(x, depth), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print("dynamic", t, depth, round(loss.item(), 3))
print("middle grad norm:", round(dyn.middle_linear.weight.grad.norm().item(), 4))
