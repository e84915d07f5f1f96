# Decoding strategies for a small GRU language model as in text-generation tutorials:
# greedy search, beam search with log_softmax scores, topk over the flattened
# beam x vocab scores, index_select of the hidden states of the surviving beams, length
# normalisation, top-k / top-p (nucleus) filtering with sort / cumsum / scatter and
# masked_fill(-inf), and temperature scaling; sampling itself uses a fixed NumPy stream.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

V, H, EOS = 9, 12, 0


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.gru = nn.GRU(H, H, batch_first=True)
        self.out = nn.Linear(H, V)

    def forward(self, tokens, hidden=None):
        out, hidden = self.gru(self.emb(tokens), hidden)
        return self.out(out[:, -1]), hidden


model = LM()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.77 + i).reshape(p.shape)
            * 0.6
        )
model.eval()
prompt = torch.tensor([[3, 5]])


@torch.no_grad()
def greedy(max_len=6):
    logits, hidden = model(prompt)
    out = []
    for _ in range(max_len):
        tok = logits.argmax(-1, keepdim=True)
        out.append(tok.item())
        if tok.item() == EOS:
            break
        logits, hidden = model(tok, hidden)
    return out


@torch.no_grad()
def beam_search(beam_size=3, max_len=5, alpha=0.7):
    logits, hidden = model(prompt)
    log_probs = F.log_softmax(logits, -1)
    scores, tokens = log_probs.topk(beam_size, dim=-1)
    beams = [[t] for t in tokens[0].tolist()]
    scores = scores[0]
    hidden = hidden.repeat(1, beam_size, 1)
    finished = []
    for _ in range(max_len - 1):
        last = torch.tensor([[b[-1]] for b in beams])
        logits, hidden = model(last, hidden)
        cand = scores.unsqueeze(1) + F.log_softmax(logits, -1)
        flat = cand.view(-1)
        top_scores, top_idx = flat.topk(beam_size)
        beam_idx = torch.div(top_idx, V, rounding_mode="floor")
        tok_idx = top_idx % V
        beams = [beams[b] + [t] for b, t in zip(beam_idx.tolist(), tok_idx.tolist())]
        hidden = hidden.index_select(1, beam_idx)
        scores = top_scores
    for b, s in zip(beams, scores.tolist()):
        finished.append((round(s / (len(b) ** alpha), 5), b))
    return sorted(finished, reverse=True)


def top_k_top_p_filtering(logits, top_k=0, top_p=1.0, filter_value=-float("Inf")):
    if top_k > 0:
        indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
        logits = logits.masked_fill(indices_to_remove, filter_value)
    if top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(logits, descending=True)
        cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        sorted_indices_to_remove = cumulative_probs > top_p
        sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
        sorted_indices_to_remove[..., 0] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(
            1, sorted_indices, sorted_indices_to_remove
        )
        logits = logits.masked_fill(indices_to_remove, filter_value)
    return logits


print("greedy:", greedy())
for score, beam in beam_search():
    print("beam:", score, beam)
with torch.no_grad():
    logits, _ = model(prompt)
print("top-k 3 kept:", torch.isfinite(top_k_top_p_filtering(logits, top_k=3)).sum().item())
filtered = top_k_top_p_filtering(logits / 0.7, top_p=0.8)
probs = F.softmax(filtered, dim=-1)
print("top-p probs:", probs.numpy().round(5).tolist())
u = np.random.default_rng(0).random(5)
cdf = torch.cumsum(probs[0], 0)
print("sampled:", [int(torch.searchsorted(cdf, torch.tensor(x)).clamp(max=V - 1)) for x in u])
