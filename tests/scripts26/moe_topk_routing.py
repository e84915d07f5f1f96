# A sparse mixture-of-experts layer as written in Switch / Mixtral-style reference code:
# a router Linear, softmax gates, torch.topk(k=2) with renormalised weights, tokens
# dispatched to experts with torch.where(expert_mask) / index_add_, the load-balancing
# auxiliary loss (fraction of tokens per expert * mean router probability), and gradients
# reaching router and experts; checked against a dense loop over all tokens.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.w1 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)))


class MoE(nn.Module):
    def __init__(self, d=4, h=6, n_experts=4, top_k=2):
        super().__init__()
        self.router = nn.Linear(d, n_experts, bias=False)
        self.experts = nn.ModuleList([Expert(d, h) for _ in range(n_experts)])
        self.top_k = top_k
        self.n_experts = n_experts

    def forward(self, x):
        tokens = x.reshape(-1, x.shape[-1])
        router_logits = self.router(tokens)
        routing_weights = F.softmax(router_logits, dim=1)
        weights, selected = torch.topk(routing_weights, self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(tokens)
        expert_mask = F.one_hot(selected, num_classes=self.n_experts).permute(2, 1, 0)
        for e in range(self.n_experts):
            idx, top_x = torch.where(expert_mask[e])
            if top_x.numel() == 0:
                continue
            current = self.experts[e](tokens[top_x]) * weights[top_x, idx, None]
            out.index_add_(0, top_x, current)
        tokens_per_expert = expert_mask.sum(dim=(1,)).clamp(max=1).float().mean(dim=1)
        aux = self.n_experts * (tokens_per_expert * routing_weights.mean(dim=0)).sum()
        return out.reshape(x.shape), aux, selected


moe = MoE()
with torch.no_grad():
    for i, p in enumerate(moe.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.77 + i * 0.3).view_as(p))
x = torch.cos(torch.arange(2 * 5 * 4, dtype=torch.float64) * 0.35).view(2, 5, 4)
out, aux, selected = moe(x)
print("selected:", selected.tolist())
print("out[0]:", out[0])
print("aux:", aux.item())

dense = torch.zeros(10, 4)
tokens = x.reshape(-1, 4)
probs = F.softmax(moe.router(tokens), dim=1)
for t in range(10):
    w, s = probs[t].topk(2)
    w = w / w.sum()
    dense[t] = sum(w[j] * moe.experts[int(s[j])](tokens[t]) for j in range(2))
print("matches dense:", torch.allclose(dense.view(2, 5, 4), out))
(out.pow(2).mean() + 0.01 * aux).backward()
print("router grad:", moe.router.weight.grad)
print(
    "expert grads nonzero:",
    [bool(e.w1.weight.grad is not None and e.w1.weight.grad.abs().sum() > 0) for e in moe.experts],
)
counts = torch.bincount(selected.flatten(), minlength=4)
print("tokens per expert:", counts.tolist())
