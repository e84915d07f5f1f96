"""A PyTorch-style script runs with ``import kiln as torch`` (the surface scripts touch)."""

import numpy as np

import kiln as torch


def test_script_surface():
    torch.backends.cudnn.deterministic = True
    assert torch.backends.cudnn.deterministic is True
    torch.backends.cudnn.deterministic = False  # (restored: a process-wide flag)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.FloatTensor([[1, 2], [3, 4]]).to(device)
    # (as in PyTorch, a tensor's device has its index: cuda:0 is not device("cuda"))
    assert x.dtype is torch.float32 and x.device.type == device.type
    assert torch.LongTensor(3).tolist() == [0, 0, 0]
    v = torch.autograd.Variable(torch.ones(2), requires_grad=True)
    with torch.inference_mode():
        assert not (v * 2).requires_grad
    assert (v * 2).requires_grad


def test_training_loop_as_a_pytorch_user_writes_it():
    import kiln.nn as nn
    import kiln.nn.functional as F
    from kiln.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 4)) * 3
    labels = rng.integers(0, 3, 240)
    points = centers[labels] + rng.standard_normal((240, 4)) * 0.5
    data = TensorDataset(torch.tensor(points, dtype=torch.float32), torch.tensor(labels))
    loader = DataLoader(data, batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        x, y = data.tensors
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    assert accuracy > 0.95
