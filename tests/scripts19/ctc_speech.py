# A speech-recognition style model trained with CTC as in the torchaudio / "speech
# recognition with CTC" tutorials, on synthetic features: Conv1d front end, a
# bidirectional GRU, log_softmax over (T, N, C), nn.CTCLoss(blank=0, zero_infinity=True)
# with input / target lengths (padded and concatenated targets), and greedy CTC decoding
# (argmax, unique_consecutive, dropping blanks).
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpeechModel(nn.Module):
    def __init__(self, n_feats=5, n_hidden=8, n_class=5):
        super().__init__()
        self.cnn = nn.Conv1d(n_feats, n_hidden, kernel_size=3, padding=1)
        self.rnn = nn.GRU(n_hidden, n_hidden, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(2 * n_hidden, n_class)

    def forward(self, x):
        x = F.gelu(self.cnn(x))
        x = x.transpose(1, 2)
        x, _ = self.rnn(x)
        return self.classifier(x)


model = SpeechModel()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.57 + i).reshape(p.shape)
            * 0.4
        )
N, T = 3, 12
feats = torch.linspace(-2, 2, N * 5 * T).reshape(N, 5, T).sin()
targets_padded = torch.tensor([[1, 2, 2, 3], [4, 1, 0, 0], [3, 3, 1, 0]])
target_lengths = torch.tensor([4, 2, 3])
input_lengths = torch.tensor([12, 10, 11])
ctc_loss = nn.CTCLoss(blank=0, zero_infinity=True)
log_probs = F.log_softmax(model(feats), dim=2).transpose(0, 1)
print("log_probs:", list(log_probs.shape))
loss = ctc_loss(log_probs, targets_padded, input_lengths, target_lengths)
concat = torch.cat([targets_padded[i, : target_lengths[i]] for i in range(N)])
loss_concat = ctc_loss(log_probs, concat, input_lengths, target_lengths)
print("ctc:", round(loss.item(), 5), round(loss_concat.item(), 5))
print(
    "ctc sum / none:",
    round(
        F.ctc_loss(
            log_probs, targets_padded, input_lengths, target_lengths, reduction="sum"
        ).item(),
        5,
    ),
    F.ctc_loss(log_probs, targets_padded, input_lengths, target_lengths, reduction="none")
    .detach()
    .numpy()
    .round(5)
    .tolist(),
)
loss.backward()
print("grad:", round(model.classifier.weight.grad.abs().sum().item(), 5))
impossible = F.ctc_loss(
    log_probs[:3],
    targets_padded,
    torch.tensor([3, 3, 3]),
    target_lengths,
    reduction="none",
    zero_infinity=True,
)
print("zero_infinity:", impossible.detach().numpy().round(5).tolist())
optimizer = torch.optim.AdamW(model.parameters(), lr=0.02)
for step in range(8):
    log_probs = F.log_softmax(model(feats), dim=2).transpose(0, 1)
    loss = ctc_loss(log_probs, targets_padded, input_lengths, target_lengths)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print("step", step, round(loss.item(), 5))


def greedy_decode(log_probs, blank=0):
    results = []
    for seq in log_probs.argmax(dim=2).transpose(0, 1):
        collapsed = torch.unique_consecutive(seq)
        results.append(collapsed[collapsed != blank].tolist())
    return results


print("decoded:", greedy_decode(log_probs))
print(
    "unique_consecutive counts:",
    [
        t.tolist()
        for t in torch.unique_consecutive(
            torch.tensor([0, 0, 1, 1, 1, 0, 2, 2]), return_counts=True
        )
    ],
)
