# The "Dynamic Quantization" recipe: torch.ao.quantization.quantize_dynamic of a model's
# nn.Linear / nn.LSTM layers to qint8, the quantized model's printed layer types, its
# outputs close to the float model's, and the size of the saved state_dict shrinking.
import io

import torch
import torch.nn as nn


class LSTMModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[-1])


model = LSTMModel().eval()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.3 + i).view_as(p) * 0.3)
quantized = torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
print("fc type:", type(quantized.fc).__name__)
print("lstm type:", type(quantized.lstm).__name__)
x = torch.linspace(-1, 1, 5 * 2 * 8).view(5, 2, 8)
with torch.no_grad():
    print("close:", torch.allclose(model(x), quantized(x), atol=0.05))


def size_of(m):
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    return buffer.tell()


print("smaller:", size_of(quantized) < size_of(model))
