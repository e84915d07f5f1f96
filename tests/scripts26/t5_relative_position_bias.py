# Position biases of modern transformers as written in their reference PyTorch code:
# T5's _relative_position_bucket (bidirectional and causal, exact buckets then
# logarithmic ones via torch.log and torch.min / torch.full_like), the bias computed with
# an nn.Embedding over the buckets and permuted to (1, heads, q, k); ALiBi's head slopes
# (powers of two, the interpolated case for 6 heads) and its linear distance bias added
# to causal attention scores.
import math

import torch
import torch.nn as nn


def _relative_position_bucket(
    relative_position, bidirectional=True, num_buckets=32, max_distance=128
):
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


q_len, k_len = 6, 40
context_position = torch.arange(q_len, dtype=torch.long)[:, None]
memory_position = torch.arange(k_len, dtype=torch.long)[None, :]
relative_position = memory_position - context_position
buckets = _relative_position_bucket(
    relative_position, bidirectional=True, num_buckets=16, max_distance=32
)
print("buckets row 0:", buckets[0].tolist())
causal = _relative_position_bucket(
    relative_position, bidirectional=False, num_buckets=16, max_distance=32
)
print("causal row 5:", causal[5].tolist())

n_heads = 3
emb = nn.Embedding(16, n_heads)
with torch.no_grad():
    emb.weight.copy_(torch.linspace(-1, 1, 16 * n_heads).view(16, n_heads))
values = emb(buckets).permute([2, 0, 1]).unsqueeze(0)
print("bias shape:", values.shape)
print("bias head 1 row 2:", values[0, 1, 2, :10])


def get_slopes(n):
    def get_slopes_power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return get_slopes_power_of_2(closest) + get_slopes(2 * closest)[0::2][: n - closest]


print("slopes 8:", [round(s, 6) for s in get_slopes(8)])
print("slopes 6:", [round(s, 6) for s in get_slopes(6)])
slopes = torch.tensor(get_slopes(4))
T = 5
distance = torch.arange(T)[None, :] - torch.arange(T)[:, None]
alibi = slopes[:, None, None] * distance[None].float()
mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
scores = torch.zeros(4, T, T) + alibi
scores = scores.masked_fill(mask, float("-inf"))
probs = scores.softmax(dim=-1)
print("alibi probs head 0 row 4:", probs[0, 4])
print("alibi probs head 3 row 4:", probs[3, 4])
