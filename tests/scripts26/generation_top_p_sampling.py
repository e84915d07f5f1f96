# Text-generation sampling as Hugging Face's logits processors and nanoGPT write it:
# temperature scaling, top-k filtering (values below the k-th set to -inf), nucleus /
# top-p filtering (sort descending, cumsum of softmax, shift the mask right by one,
# scatter back to the original order), a repetition penalty via gather / scatter, and
# sampling with inverse-CDF draws from NumPy uniforms (torch.searchsorted on the cumsum)
# instead of torch.multinomial; plus greedy argmax decoding of a tiny bigram model.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
logits = torch.tensor([[2.0, 1.0, 0.5, 0.2, -1.0, 3.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])


def top_k_filter(logits, k):
    v, _ = torch.topk(logits, min(k, logits.size(-1)))
    out = logits.clone()
    out[out < v[:, [-1]]] = -float("Inf")
    return out


def top_p_filter(logits, top_p, min_tokens_to_keep=1):
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_indices_to_remove = cumulative_probs > top_p
    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
    sorted_indices_to_remove[..., :min_tokens_to_keep] = 0
    indices_to_remove = sorted_indices_to_remove.scatter(
        1, sorted_indices, sorted_indices_to_remove
    )
    return logits.masked_fill(indices_to_remove, -float("Inf"))


def repetition_penalty(input_ids, scores, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, input_ids, score)


print("temperature:", F.softmax(logits / 0.7, dim=-1)[0])
print("top-k 3:", top_k_filter(logits, 3))
print("top-p 0.8:", top_p_filter(logits, 0.8))
print("top-p probs:", F.softmax(top_p_filter(logits, 0.8), dim=-1))
print("penalty:", repetition_penalty(torch.tensor([[0, 5], [1, 1]]), logits, 1.3))


def sample(probs):
    u = torch.from_numpy(rng.random((probs.shape[0], 1))).to(probs.dtype)
    cdf = probs.cumsum(dim=-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=probs.shape[-1] - 1)


draws = torch.cat([sample(F.softmax(top_p_filter(logits, 0.9), dim=-1)) for _ in range(8)], dim=1)
print("samples:", draws.tolist())

vocab = 6
bigram = torch.tensor(
    [[0.0 if j != (i + 1) % vocab else 2.0 for j in range(vocab)] for i in range(vocab)]
)
idx = torch.tensor([[0]])
for _ in range(7):
    next_logits = bigram[idx[:, -1]]
    idx_next = torch.argmax(next_logits, dim=-1, keepdim=True)
    idx = torch.cat((idx, idx_next), dim=1)
print("greedy:", idx.tolist())
print(
    "log-probs of path:",
    F.log_softmax(bigram[idx[0, :-1]], dim=-1).gather(1, idx[0, 1:, None]).sum().item(),
)
