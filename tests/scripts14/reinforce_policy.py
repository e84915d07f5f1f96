# The REINFORCE example (pytorch/examples reinforcement_learning): a policy network,
# Categorical action sampling, saved log-probs, normalized discounted returns, and a
# Gaussian policy's Normal log-probs; plus the torch.distributions calls around them.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Bernoulli, Categorical, Normal, Uniform, kl_divergence

torch.manual_seed(543)
gamma = 0.99
eps = np.finfo(np.float32).eps.item()


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 32)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(32, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
rng = np.random.default_rng(0)
with torch.no_grad():
    for p in policy.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
policy.eval()  # no dropout: the numbers below do not depend on the random stream


def select_action(state, forced_action=None):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    assert action.shape == (1,) and 0 <= action.item() < 2
    if forced_action is not None:  # a fixed action stream, to compare frameworks
        action = torch.tensor([forced_action])
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = []
    returns = []
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]
    return policy_loss.item()


for i_episode in range(1, 6):
    state = np.array([0.01, -0.02, 0.03, 0.0], dtype=np.float32) * i_episode
    ep_reward = 0
    for _t in range(1, 20):
        action = select_action(state, forced_action=int(rng.integers(0, 2)))
        state = np.tanh(
            state + (0.1 if action else -0.1) * np.array([1.0, 0.5, -0.3, 0.2], dtype=np.float32)
        )
        reward = float(1.0 - abs(state[2]))
        policy.rewards.append(reward)
        ep_reward += reward
    loss = finish_episode()
    print(f"Episode {i_episode}\tLast reward: {ep_reward:.4f}\tpolicy loss: {loss:.5f}")

# the distributions on their own
probs = torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
m = Categorical(probs)
print(
    "Categorical:",
    m.batch_shape,
    m.event_shape,
    m.log_prob(torch.tensor([2, 0])).numpy().round(6).tolist(),
)
print("Categorical entropy:", m.entropy().numpy().round(6).tolist(), m.mode.tolist())
lm = Categorical(logits=torch.tensor([1.0, 2.0, -1.0]))
print(
    "Categorical logits:", lm.probs.numpy().round(6).tolist(), lm.logits.numpy().round(6).tolist()
)
s = m.sample((1000,))
print("Categorical sample:", list(s.shape), s.dtype, bool((s >= 0).all() and (s < 3).all()))
print("sample frequencies close:", bool(((s[:, 0] == 2).float().mean() - 0.7).abs() < 0.06))
print("enumerate_support:", m.enumerate_support().tolist())
mu = torch.tensor([0.0, 1.0], requires_grad=True)
sigma = torch.tensor([1.0, 0.5], requires_grad=True)
n = Normal(mu, sigma)
value = torch.tensor([0.3, 0.8])
lp = n.log_prob(value)
lp.sum().backward()
print(
    "Normal log_prob:",
    lp.detach().numpy().round(6).tolist(),
    mu.grad.tolist(),
    sigma.grad.numpy().round(6).tolist(),
)
print(
    "Normal entropy cdf icdf:",
    n.entropy().detach().numpy().round(6).tolist(),
    n.cdf(value).detach().numpy().round(6).tolist(),
    n.icdf(torch.tensor([0.1, 0.9])).detach().numpy().round(5).tolist(),
)
r = Normal(mu, sigma).rsample((4,))
print("rsample:", list(r.shape), r.requires_grad, Normal(0.0, 1.0).sample((3,)).shape)
print("Normal stats:", n.mean.tolist(), n.stddev.tolist(), n.variance.tolist())
b = Bernoulli(torch.tensor([0.3, 0.9]))
print(
    "Bernoulli:",
    b.log_prob(torch.tensor([1.0, 0.0])).numpy().round(6).tolist(),
    b.entropy().numpy().round(6).tolist(),
    b.sample().shape,
)
bl = Bernoulli(logits=torch.tensor([0.0, 2.0]))
print("Bernoulli logits:", bl.probs.numpy().round(6).tolist(), bl.mean.numpy().round(6).tolist())
u = Uniform(torch.tensor([0.0, -1.0]), torch.tensor([2.0, 1.0]))
print(
    "Uniform:",
    u.log_prob(torch.tensor([1.0, 0.5])).numpy().round(6).tolist(),
    u.entropy().numpy().round(6).tolist(),
    u.mean.tolist(),
    u.variance.numpy().round(6).tolist(),
)
us = u.sample((500,))
print("Uniform sample in range:", bool((us[:, 0] >= 0).all() and (us[:, 0] < 2).all()))
print("KL normal:", kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0)).item())
print(
    "KL categorical:",
    kl_divergence(m, Categorical(torch.tensor([1 / 3, 1 / 3, 1 / 3]))).numpy().round(6).tolist(),
)
print(
    "KL bernoulli:", kl_divergence(b, Bernoulli(torch.tensor([0.5, 0.5]))).numpy().round(6).tolist()
)


def raises(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class is compared
        print(f"{name} raises: {type(e).__name__}")
    else:
        print(f"{name} raises: nothing")


raises("negative probs", lambda: Categorical(torch.tensor([-0.1, 1.1])))
raises("zero scale", lambda: Normal(0.0, 0.0))
raises("both probs and logits", lambda: Categorical(probs=torch.ones(2), logits=torch.ones(2)))
raises(
    "log_prob out of support",
    lambda: Categorical(torch.tensor([0.5, 0.5])).log_prob(torch.tensor(2)),
)
raises("bernoulli value", lambda: Bernoulli(torch.tensor(0.5)).log_prob(torch.tensor(0.5)))
