# Multi-task learning as in the "uncertainty weighting" (Kendall et al.) recipes: a
# shared trunk, an nn.ModuleDict of task heads called with a dict batch, learnable
# log-variances in an nn.ParameterDict, the loss sum(exp(-s_i) * L_i + s_i), separate
# optimizer groups for the weights and the log-variances, per-task metrics, and
# the named_parameters / state_dict keys of ParameterDict / ModuleDict members.
import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.heads = nn.ModuleDict({"cls": nn.Linear(8, 3), "reg": nn.Linear(8, 1)})
        self.log_vars = nn.ParameterDict(
            {"cls": nn.Parameter(torch.zeros(())), "reg": nn.Parameter(torch.zeros(()))}
        )

    def forward(self, batch):
        h = self.trunk(batch["x"])
        return {name: head(h) for name, head in self.heads.items()}


model = MultiTask()
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        if not name.startswith("log_vars"):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.53 + i).view_as(p) * 0.5
            )
print("names:", [n for n, _ in model.named_parameters()])
print("state keys:", list(model.state_dict().keys()))
batch = {
    "x": torch.linspace(-1, 1, 24).view(6, 4),
    "cls": torch.tensor([0, 1, 2, 0, 1, 2]),
    "reg": torch.linspace(0, 1, 6).view(6, 1),
}
weights = [p for n, p in model.named_parameters() if not n.startswith("log_vars")]
opt = torch.optim.Adam(
    [{"params": weights, "lr": 1e-2}, {"params": model.log_vars.parameters(), "lr": 5e-2}]
)
for step in range(6):
    out = model(batch)
    losses = {
        "cls": F.cross_entropy(out["cls"], batch["cls"]),
        "reg": F.mse_loss(out["reg"], batch["reg"]),
    }
    total = sum(torch.exp(-model.log_vars[k]) * losses[k] + model.log_vars[k] for k in losses)
    opt.zero_grad()
    total.backward()
    opt.step()
    print(
        f"step {step} total {total.item():.5f} cls {losses['cls'].item():.5f} "
        f"reg {losses['reg'].item():.5f} s_cls {model.log_vars['cls'].item():.5f} "
        f"s_reg {model.log_vars['reg'].item():.5f}"
    )
with torch.no_grad():
    out = model(batch)
print("cls accuracy:", (out["cls"].argmax(1) == batch["cls"]).float().mean().item())
print("reg mae:", round((out["reg"] - batch["reg"]).abs().mean().item(), 5))
print("heads keys:", list(model.heads.keys()), "log_vars keys:", list(model.log_vars.keys()))
print(model.log_vars)
