# A LLaMA-style decoder block as written in minimal reference implementations: RMSNorm
# (x * rsqrt(mean(x^2) + eps) * weight), rotary embeddings precomputed with torch.polar and
# applied through view_as_complex / view_as_real, grouped-query attention via
# repeat_interleave of the key/value heads, F.scaled_dot_product_attention(is_causal=True)
# checked against the explicit masked softmax, a SwiGLU feed-forward (F.silu(w1 x) * w3 x),
# tied embedding / output weights, and a few AdamW steps with cross entropy.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

dim, n_heads, n_kv_heads, vocab, seq_len = 16, 4, 2, 11, 6
head_dim = dim // n_heads


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        return self._norm(x.float()).type_as(x) * self.weight


def precompute_freqs_cis(dim, end, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    t = torch.arange(end, device=freqs.device)
    freqs = torch.outer(t, freqs).float()
    return torch.polar(torch.ones_like(freqs), freqs)


def reshape_for_broadcast(freqs_cis, x):
    ndim = x.ndim
    shape = [d if i == 1 or i == ndim - 1 else 1 for i, d in enumerate(x.shape)]
    return freqs_cis.view(*shape)


def apply_rotary_emb(xq, xk, freqs_cis):
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    freqs_cis = reshape_for_broadcast(freqs_cis, xq_)
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wo = nn.Linear(n_heads * head_dim, dim, bias=False)

    def forward(self, x, freqs_cis, explicit=False):
        bsz, seqlen, _ = x.shape
        xq = self.wq(x).view(bsz, seqlen, n_heads, head_dim)
        xk = self.wk(x).view(bsz, seqlen, n_kv_heads, head_dim)
        xv = self.wv(x).view(bsz, seqlen, n_kv_heads, head_dim)
        xq, xk = apply_rotary_emb(xq, xk, freqs_cis=freqs_cis)
        n_rep = n_heads // n_kv_heads
        keys = torch.repeat_interleave(xk, n_rep, dim=2)
        values = torch.repeat_interleave(xv, n_rep, dim=2)
        xq, keys, values = (t.transpose(1, 2) for t in (xq, keys, values))
        if explicit:
            scores = torch.matmul(xq, keys.transpose(2, 3)) / math.sqrt(head_dim)
            mask = torch.full((seqlen, seqlen), float("-inf")).triu(1)
            scores = F.softmax((scores + mask).float(), dim=-1).type_as(xq)
            output = torch.matmul(scores, values)
        else:
            output = F.scaled_dot_product_attention(xq, keys, values, is_causal=True)
        output = output.transpose(1, 2).contiguous().view(bsz, seqlen, -1)
        return self.wo(output)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim, multiple_of=8):
        super().__init__()
        hidden_dim = int(2 * hidden_dim / 3)
        hidden_dim = multiple_of * ((hidden_dim + multiple_of - 1) // multiple_of)
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.attention_norm = RMSNorm(dim)
        self.attention = Attention()
        self.ffn_norm = RMSNorm(dim)
        self.feed_forward = FeedForward(dim, 4 * dim)
        self.norm = RMSNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)
        self.output.weight = self.tok_embeddings.weight
        self.register_buffer(
            "freqs_cis", precompute_freqs_cis(head_dim, seq_len * 2), persistent=False
        )

    def forward(self, tokens, explicit=False):
        h = self.tok_embeddings(tokens)
        freqs_cis = self.freqs_cis[: tokens.shape[1]]
        h = h + self.attention(self.attention_norm(h), freqs_cis, explicit)
        h = h + self.feed_forward(self.ffn_norm(h))
        return self.output(self.norm(h)).float()


model = Transformer()
with torch.no_grad():
    for i, (_name, p) in enumerate(model.named_parameters()):
        if p.dim() == 2:
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.71 + i).reshape(p.shape)
                * 0.3
            )
print(
    "params:",
    sum(p.numel() for p in model.parameters()),
    "ffn hidden:",
    model.feed_forward.w1.out_features,
)
print(
    "state_dict has freqs_cis:",
    "freqs_cis" in model.state_dict(),
    model.freqs_cis.dtype,
    list(model.freqs_cis.shape),
)
print("tied:", model.output.weight is model.tok_embeddings.weight)
tokens = torch.tensor([[1, 5, 3, 8, 2, 9], [4, 4, 7, 0, 10, 6]])
logits = model(tokens)
print("sdpa equals explicit:", torch.allclose(logits, model(tokens, explicit=True), atol=1e-5))
print("logits[0, -1]:", logits[0, -1].detach().numpy().round(4).tolist())
xq = torch.linspace(-1, 1, 2 * 3 * 2 * 4).reshape(2, 3, 2, 4)
rq, rk = apply_rotary_emb(xq, xq, precompute_freqs_cis(4, 3))
print(
    "rope keeps norms:",
    torch.allclose(rq.norm(dim=-1), xq.norm(dim=-1), atol=1e-6),
    rq[0, 2, 1].numpy().round(5).tolist(),
)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
for step in range(5):
    logits = model(tokens[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    print("step", step, round(loss.item(), 5))
