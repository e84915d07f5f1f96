# Exponential moving averages of weights as real training code writes them (timm's
# ModelEmaV3, BYOL / DINO momentum teachers): a deepcopy teacher with requires_grad off,
# the per-parameter loop p_t.mul_(m).add_(p_s.detach(), alpha=1 - m), the same with
# torch._foreach_mul_ / torch._foreach_add_ and torch._foreach_lerp_ over parameter
# lists, buffers copied, a warmup decay schedule, and the teacher's outputs.
import copy

import torch
import torch.nn as nn

student = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
with torch.no_grad():
    for i, p in enumerate(student.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.5 + i).view_as(p) * 0.4)
teacher_loop = copy.deepcopy(student)
teacher_foreach = copy.deepcopy(student)
teacher_lerp = copy.deepcopy(student)
for t in (teacher_loop, teacher_foreach, teacher_lerp):
    for p in t.parameters():
        p.requires_grad_(False)
opt = torch.optim.SGD(student.parameters(), lr=0.1)
x = torch.linspace(-1, 1, 32).view(8, 4)
y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def decay_at(step, base=0.99, warmup=10):
    return min(base, (1 + step) / (warmup + step))


for step in range(6):
    loss = nn.functional.cross_entropy(student(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    m = decay_at(step)
    with torch.no_grad():
        for p_t, p_s in zip(teacher_loop.parameters(), student.parameters()):
            p_t.mul_(m).add_(p_s.detach(), alpha=1 - m)
        for b_t, b_s in zip(teacher_loop.buffers(), student.buffers()):
            b_t.copy_(b_s)
        t_params = list(teacher_foreach.parameters())
        s_params = list(student.parameters())
        torch._foreach_mul_(t_params, m)
        torch._foreach_add_(t_params, s_params, alpha=1 - m)
        for b_t, b_s in zip(teacher_foreach.buffers(), student.buffers()):
            b_t.copy_(b_s)
        torch._foreach_lerp_(list(teacher_lerp.parameters()), s_params, weight=1 - m)
        for b_t, b_s in zip(teacher_lerp.buffers(), student.buffers()):
            b_t.copy_(b_s)
    print("step", step, "decay:", round(m, 6), "loss:", round(loss.item(), 6))

print(
    "foreach == loop:",
    all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(teacher_foreach.parameters(), teacher_loop.parameters())
    ),
)
print(
    "lerp == loop:",
    all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(teacher_lerp.parameters(), teacher_loop.parameters())
    ),
)
teacher_loop.eval()
with torch.no_grad():
    print("teacher out:", teacher_loop(x[:2]))
norms = torch._foreach_norm(list(student.parameters()))
print("foreach_norm:", [round(n.item(), 5) for n in norms])
print("teacher requires_grad:", any(p.requires_grad for p in teacher_loop.parameters()))
