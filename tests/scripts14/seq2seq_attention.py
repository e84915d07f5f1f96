# "NLP from scratch: translation with a sequence to sequence network and attention":
# EncoderRNN (Embedding + GRU), the Bahdanau-attention decoder, teacher forcing, NLLLoss,
# Adam, and greedy decoding, on a toy "reverse the digits" task.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.utils.data import DataLoader, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SOS_token = 0
EOS_token = 1
MAX_LENGTH = 6
vocab = 12  # SOS, EOS, digits 0-9 -> ids 2..11

rng = np.random.default_rng(0)
n = 48
inputs = np.full((n, MAX_LENGTH), 0, dtype=np.int64)
targets = np.full((n, MAX_LENGTH), 0, dtype=np.int64)
for i in range(n):
    length = rng.integers(2, MAX_LENGTH)
    seq = rng.integers(2, vocab, size=length)
    inputs[i, :length] = seq
    inputs[i, length] = EOS_token
    targets[i, :length] = seq[::-1]
    targets[i, length] = EOS_token
train_dataloader = DataLoader(
    TensorDataset(torch.from_numpy(inputs), torch.from_numpy(targets)), batch_size=16
)


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long, device=device).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        attentions = []
        for i in range(MAX_LENGTH):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs
            )
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        attentions = torch.cat(attentions, dim=1)
        return decoder_outputs, decoder_hidden, attentions

    def forward_step(self, input, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        output = self.out(output)
        return output, hidden, attn_weights


def deterministic_init(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(
                torch.from_numpy(rng.uniform(-0.25, 0.25, size=tuple(p.shape)).astype(np.float32))
            )


hidden_size = 32
# dropout_p=0: the losses then do not depend on the random stream
encoder = EncoderRNN(vocab, hidden_size, dropout_p=0.0).to(device)
decoder = AttnDecoderRNN(hidden_size, vocab, dropout_p=0.0).to(device)
deterministic_init(encoder, 0)
deterministic_init(decoder, 1)
print("decoder params:", [n for n, _ in decoder.named_parameters()])


def train_epoch(dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion):
    total_loss = 0
    for data in dataloader:
        input_tensor, target_tensor = data
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1))
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        total_loss += loss.item()
    return total_loss / len(dataloader)


encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
criterion = nn.NLLLoss()
for epoch in range(1, 13):
    loss = train_epoch(
        train_dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion
    )
    if epoch % 3 == 0:
        print(f"epoch {epoch} loss {loss:.4f}")

encoder.eval()
decoder.eval()
with torch.no_grad():
    enc_out, enc_hidden = encoder(torch.from_numpy(inputs[:4]))
    decoder_outputs, decoder_hidden, attentions = decoder(enc_out, enc_hidden)
    _, topi = decoder_outputs.topk(1)
    decoded_ids = topi.squeeze()
print("decoded:", decoded_ids.tolist())
print("attention shape:", list(attentions.shape), attentions.sum(-1)[0].numpy().round(5).tolist())
print(
    "token accuracy:",
    round((decoded_ids == torch.from_numpy(targets[:4])).float().mean().item(), 4),
)
