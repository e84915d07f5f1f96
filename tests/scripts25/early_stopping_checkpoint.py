# Early stopping as training scripts do it: copy.deepcopy(model.state_dict()) of the best
# epoch, patience, ReduceLROnPlateau on the validation loss, restoring the best weights
# with load_state_dict, and checking that the restored model reproduces the best loss;
# plus the pitfall of keeping state_dict() without a copy (its tensors alias the model).
import copy

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(1)
X = torch.from_numpy(rng.standard_normal((120, 5)).astype(np.float32))
true_w = torch.from_numpy(rng.standard_normal((5, 1)).astype(np.float32))
Y = X @ true_w + 0.3 * torch.from_numpy(rng.standard_normal((120, 1)).astype(np.float32))
Xtr, Ytr, Xva, Yva = X[:20], Y[:20], X[20:], Y[20:]
model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 1))
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.5))
opt = torch.optim.Adam(model.parameters(), lr=0.05)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
loss_fn = nn.MSELoss()
best_loss, best_state, best_epoch, patience, bad = float("inf"), None, -1, 5, 0
for epoch in range(60):
    model.train()
    opt.zero_grad()
    loss = loss_fn(model(Xtr), Ytr)
    loss.backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        val = loss_fn(model(Xva), Yva).item()
    sched.step(val)
    if val < best_loss:
        best_loss, best_epoch, bad = val, epoch, 0
        best_state = copy.deepcopy(model.state_dict())
    else:
        bad += 1
        if bad >= patience:
            print("early stop at epoch", epoch)
            break
print("best:", best_epoch, round(best_loss, 5), "lr:", opt.param_groups[0]["lr"])
print("last lr:", sched.get_last_lr(), sched.num_bad_epochs)
print("current val:", round(loss_fn(model(Xva), Yva).item(), 5))
model.load_state_dict(best_state)
with torch.no_grad():
    restored = loss_fn(model(Xva), Yva).item()
print("restored:", round(restored, 5), restored == best_loss)
alias = model.state_dict()
copied = copy.deepcopy(model.state_dict())
with torch.no_grad():
    model[0].weight.add_(1.0)
print("state_dict aliases:", torch.equal(alias["0.weight"], model[0].weight))
print("deepcopy independent:", torch.equal(copied["0.weight"], model[0].weight))
print("deepcopy no grad:", copied["0.weight"].requires_grad, alias["0.weight"].requires_grad)
clone_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
print("keys:", list(clone_state), [tuple(v.shape) for v in clone_state.values()])
model2 = copy.deepcopy(model)
print("deepcopy module:", model2 is not model, torch.equal(model2[0].weight, model[0].weight))
print("params distinct:", model2[0].weight.data_ptr() != model[0].weight.data_ptr())
print("result:", model.load_state_dict(best_state))
