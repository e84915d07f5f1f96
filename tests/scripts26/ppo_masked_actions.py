# PPO's update as in CleanRL / "PPO from scratch" tutorials, on fixed rollouts: generalized
# advantage estimation in a reversed loop, advantage normalisation, a Categorical policy
# with invalid-action masking (logits set to -inf / finfo.min, entropy of the masked
# distribution), the clipped surrogate objective (ratio = exp(new_logp - old_logp),
# torch.clamp to 1 +- eps, torch.max of the negated terms), the clipped value loss, the
# approx-KL and clip-fraction diagnostics, and a few Adam epochs with grad clipping.
import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical

rng = np.random.default_rng(0)
T, obs_dim, n_actions = 16, 4, 3
obs = torch.from_numpy(rng.standard_normal((T, obs_dim)).astype(np.float32))
actions = torch.from_numpy(rng.integers(0, 2, T)).long()
rewards = torch.from_numpy(rng.standard_normal(T).astype(np.float32))
dones = torch.zeros(T)
dones[7] = 1.0
mask = torch.ones(T, n_actions, dtype=torch.bool)
mask[::3, 2] = False


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.critic = nn.Sequential(nn.Linear(obs_dim, 16), nn.Tanh(), nn.Linear(16, 1))
        self.actor = nn.Sequential(nn.Linear(obs_dim, 16), nn.Tanh(), nn.Linear(16, n_actions))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action, action_mask):
        logits = self.actor(x)
        logits = torch.where(action_mask, logits, torch.tensor(-1e8))
        probs = Categorical(logits=logits)
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


agent = Agent()
with torch.no_grad():
    for i, p in enumerate(agent.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.77 + i).view_as(p) * 0.5)
with torch.no_grad():
    _, old_logprobs, entropy, values = agent.get_action_and_value(obs, actions, mask)
    values = values.flatten()
    next_value = agent.get_value(obs[-1:]).reshape(1)
print("old logprobs:", old_logprobs[:5])
print("entropy masked rows:", entropy[::3][:3])

gamma, gae_lambda = 0.99, 0.95
advantages = torch.zeros_like(rewards)
lastgaelam = 0
for t in reversed(range(T)):
    if t == T - 1:
        nextnonterminal = 1.0
        nextvalues = next_value
    else:
        nextnonterminal = 1.0 - dones[t + 1]
        nextvalues = values[t + 1]
    delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
    advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
returns = advantages + values
print("advantages:", advantages[:6])

optimizer = torch.optim.Adam(agent.parameters(), lr=3e-3, eps=1e-5)
clip_coef, vf_coef, ent_coef = 0.2, 0.5, 0.01
for epoch in range(4):
    _, newlogprob, entropy, newvalue = agent.get_action_and_value(obs, actions, mask)
    logratio = newlogprob - old_logprobs
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean().item()
    mb_advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()
    newvalue = newvalue.view(-1)
    v_loss_unclipped = (newvalue - returns) ** 2
    v_clipped = values + torch.clamp(newvalue - values, -clip_coef, clip_coef)
    v_loss_clipped = (v_clipped - returns) ** 2
    v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
    optimizer.zero_grad()
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
    optimizer.step()
    print(
        f"epoch {epoch} loss {loss.item():.5f} pg {pg_loss.item():.5f} v {v_loss.item():.5f} "
        f"kl {approx_kl.item():.6f} clipfrac {clipfrac:.3f} grad_norm {grad_norm.item():.5f}"
    )
masked_logits = torch.tensor([[1.0, 2.0, float("-inf")], [0.0, float("-inf"), float("-inf")]])
dist = Categorical(logits=masked_logits)
print("entropy with -inf:", dist.entropy())
print("probs with -inf:", dist.probs)
print("log_prob valid:", dist.log_prob(torch.tensor([1, 0])))
