# "Reinforcement Learning (DQN) Tutorial" on a tiny hand-written environment (a 1-D walk
# to a goal) instead of gym's CartPole: ReplayMemory of Transition namedtuples, policy and
# target networks, epsilon-greedy select_action with the exponential decay, optimize_model
# (non-final mask, gather, max(1).values, SmoothL1Loss, clip_grad_value_), and the soft
# update of the target network's state_dict.
import math
import random
from collections import deque, namedtuple
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

random.seed(0)
rng = np.random.default_rng(4)
device = torch.device("cpu")


class WalkEnv:
    """State: position one-hot-ish features; actions 0 (left) / 1 (right); goal at 5."""

    def __init__(self):
        self.pos = 0

    def reset(self):
        self.pos = 0
        return self._obs(), {}

    def _obs(self):
        return np.array(
            [self.pos / 5.0, 1.0 - self.pos / 5.0, (self.pos % 2) * 1.0, 1.0], dtype=np.float32
        )

    def step(self, action):
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        terminated = self.pos == 5
        reward = 1.0 if terminated else -0.1
        return self._obs(), reward, terminated, False, {}


Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        """Save a transition"""
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, n_observations, n_actions):
        super().__init__()
        self.layer1 = nn.Linear(n_observations, 32)
        self.layer2 = nn.Linear(32, 32)
        self.layer3 = nn.Linear(32, n_actions)

    def forward(self, x):
        x = torch.relu(self.layer1(x))
        x = torch.relu(self.layer2(x))
        return self.layer3(x)


BATCH_SIZE = 16
GAMMA = 0.99
EPS_START = 0.9
EPS_END = 0.05
EPS_DECAY = 100
TAU = 0.005
LR = 1e-3

env = WalkEnv()
n_actions = 2
state, info = env.reset()
n_observations = len(state)

policy_net = DQN(n_observations, n_actions).to(device)
with torch.no_grad():
    for p in policy_net.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
target_net = DQN(n_observations, n_actions).to(device)
target_net.load_state_dict(policy_net.state_dict())

optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
memory = ReplayMemory(1000)
steps_done = 0


def select_action(state):
    global steps_done
    sample = random.random()
    eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1.0 * steps_done / EPS_DECAY)
    steps_done += 1
    if sample > eps_threshold:
        with torch.no_grad():
            return policy_net(state).max(1).indices.view(1, 1)
    else:
        return torch.tensor([[random.randrange(n_actions)]], device=device, dtype=torch.long)


losses = []


def optimize_model():
    if len(memory) < BATCH_SIZE:
        return
    transitions = memory.sample(BATCH_SIZE)
    batch = Transition(*zip(*transitions))
    non_final_mask = torch.tensor(
        tuple(map(lambda s: s is not None, batch.next_state)), device=device, dtype=torch.bool
    )
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)

    state_action_values = policy_net(state_batch).gather(1, action_batch)

    next_state_values = torch.zeros(BATCH_SIZE, device=device)
    with torch.no_grad():
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
    expected_state_action_values = (next_state_values * GAMMA) + reward_batch

    criterion = nn.SmoothL1Loss()
    loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))
    losses.append(loss.item())

    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
    optimizer.step()


num_episodes = 6
episode_durations = []
for i_episode in range(num_episodes):  # noqa: B007
    state, info = env.reset()
    state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
    for t in count():
        action = select_action(state)
        observation, reward, terminated, truncated, _ = env.step(action.item())
        reward = torch.tensor([reward], device=device)
        done = terminated or truncated or t >= 30

        if terminated:
            next_state = None
        else:
            next_state = torch.tensor(observation, dtype=torch.float32, device=device).unsqueeze(0)

        memory.push(state, action, next_state, reward)
        state = next_state
        optimize_model()

        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[
                key
            ] * (1 - TAU)
        target_net.load_state_dict(target_net_state_dict)

        if done:
            episode_durations.append(t + 1)
            break

print("durations:", episode_durations)
print("memory:", len(memory), "steps:", steps_done)
print("losses:", len(losses), [round(x, 4) for x in losses[:3]], round(losses[-1], 4))
q = policy_net(torch.tensor(np.stack([WalkEnv()._obs()]), dtype=torch.float32))
print("q values:", q.detach().numpy().round(4).tolist())
print("target layer3 bias:", target_net.layer3.bias.detach().numpy().round(5).tolist())
durations_t = torch.tensor(episode_durations, dtype=torch.float)
print(
    "mean duration:",
    durations_t.mean().item(),
    durations_t.unfold(0, 2, 1).mean(1).view(-1).tolist(),
)
