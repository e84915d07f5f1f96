# pytorch/examples "reinforcement_learning/actor_critic.py" on a small hand-written
# environment: a Policy with a shared layer, an action head (softmax) and a value head,
# SavedAction namedtuples, Categorical sampling driven by a fixed uniform stream
# (inverse CDF instead of the library's RNG), discounted returns normalized with
# eps = np.finfo(np.float32).eps.item(), the policy loss plus F.smooth_l1_loss for the
# value, and torch.stack(...).sum() of the per-step losses.
from collections import namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

gamma = 0.99
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])
eps = np.finfo(np.float32).eps.item()
uniform = np.random.default_rng(5).random(500)
draw = iter(uniform)


class Corridor:
    def reset(self):
        self.pos, self.t = 2, 0
        return self.obs()

    def obs(self):
        return np.array(
            [self.pos / 4.0, (self.pos % 2) * 1.0, 1.0, self.t / 10.0], dtype=np.float32
        )

    def step(self, action):
        self.t += 1
        self.pos = min(4, max(0, self.pos + (1 if action == 1 else -1)))
        done = self.pos == 4 or self.t >= 10
        return self.obs(), (1.0 if self.pos == 4 else 0.0), done


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 16)
        self.action_head = nn.Linear(16, 2)
        self.value_head = nn.Linear(16, 1)
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


model = Policy()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.77 + i).reshape(p.shape)
            * 0.5
        )
optimizer = optim.Adam(model.parameters(), lr=3e-2)


def select_action(state):
    state = torch.from_numpy(state).float()
    probs, state_value = model(state)
    m = Categorical(probs)
    # m.sample() with a fixed uniform draw: the first index whose CDF exceeds u
    u = next(draw)
    action = torch.searchsorted(torch.cumsum(probs.detach(), 0), torch.tensor([u])).clamp(max=1)[0]
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    return action.item()


def finish_episode():
    R = 0
    saved_actions = model.saved_actions
    policy_losses = []
    value_losses = []
    returns = []
    for r in model.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for (log_prob, value), R in zip(saved_actions, returns):
        advantage = R - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    optimizer.step()
    del model.rewards[:]
    del model.saved_actions[:]
    return loss.item()


env = Corridor()
running_reward = 0
for i_episode in range(1, 9):
    state, ep_reward = env.reset(), 0
    actions = []
    for _t in range(1, 11):
        action = select_action(state)
        actions.append(action)
        state, reward, done = env.step(action)
        model.rewards.append(reward)
        ep_reward += reward
        if done:
            break
    running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
    loss = finish_episode()
    print(
        f"Episode {i_episode}\tactions {''.join(map(str, actions))}\tloss {loss:.5f}"
        f"\trunning {running_reward:.4f}"
    )
probs, value = model(torch.from_numpy(Corridor().reset()))
print("final probs:", probs.detach().numpy().round(5).tolist(), "value:", round(value.item(), 5))
