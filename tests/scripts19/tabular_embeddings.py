# Tabular deep learning as in many Kaggle-style PyTorch notebooks: categorical columns
# label-encoded with pandas-free Python, one nn.Embedding per column with the
# min(50, (n + 1) // 2) size rule in an nn.ModuleList, continuous columns through
# BatchNorm1d, torch.cat of the embedded columns, dropout, a regression head trained with
# MSE then RMSE reported, and predictions for new rows in eval mode.
import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(12)
colors = ["red", "green", "blue", "black"]
sizes = ["S", "M", "L"]
cities = ["paris", "rome", "oslo", "lima", "kyiv", "pune"]
rows = 48
cat_raw = list(zip(rng.choice(colors, rows), rng.choice(sizes, rows), rng.choice(cities, rows)))
cont = rng.standard_normal((rows, 3)).astype(np.float32)
encoders = [{v: i for i, v in enumerate(sorted(set(col)))} for col in zip(*cat_raw)]
cats = torch.tensor([[enc[v] for enc, v in zip(encoders, row)] for row in cat_raw])
conts = torch.from_numpy(cont)
target = (cats[:, 0].float() * 0.5 - cats[:, 2].float() * 0.2 + conts[:, 0] * 1.5).unsqueeze(1)
cat_szs = [len(enc) for enc in encoders]
emb_szs = [(size, min(50, (size + 1) // 2)) for size in cat_szs]
print("embedding sizes:", emb_szs)


class TabularModel(nn.Module):
    def __init__(self, emb_szs, n_cont, out_sz, layers, p=0.5):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(ni, nf) for ni, nf in emb_szs])
        self.emb_drop = nn.Dropout(p)
        self.bn_cont = nn.BatchNorm1d(n_cont)
        layerlist = []
        n_emb = sum(nf for ni, nf in emb_szs)
        n_in = n_emb + n_cont
        for i in layers:
            layerlist.append(nn.Linear(n_in, i))
            layerlist.append(nn.ReLU(inplace=True))
            layerlist.append(nn.BatchNorm1d(i))
            layerlist.append(nn.Dropout(p))
            n_in = i
        layerlist.append(nn.Linear(layers[-1], out_sz))
        self.layers = nn.Sequential(*layerlist)

    def forward(self, x_cat, x_cont):
        embeddings = []
        for i, e in enumerate(self.embeds):
            embeddings.append(e(x_cat[:, i]))
        x = torch.cat(embeddings, 1)
        x = self.emb_drop(x)
        x_cont = self.bn_cont(x_cont)
        x = torch.cat([x, x_cont], 1)
        return self.layers(x)


model = TabularModel(emb_szs, conts.shape[1], 1, [16, 8], p=0.0)
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        if name.startswith("layers") and name.endswith("bias"):
            p.zero_()
        if p.dim() > 1:
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.37 + i).reshape(p.shape)
                * 0.4
            )
print(model.embeds)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
test_size = 12
cat_train, cat_test = cats[:-test_size], cats[-test_size:]
con_train, con_test = conts[:-test_size], conts[-test_size:]
y_train, y_test = target[:-test_size], target[-test_size:]
for i in range(30):
    y_pred = model(cat_train, con_train)
    loss = torch.sqrt(criterion(y_pred, y_train))
    if i % 10 == 0:
        print(f"epoch: {i:3}  loss: {loss.item():10.8f}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    y_val = model(cat_test, con_test)
    loss = torch.sqrt(criterion(y_val, y_test))
print(f"RMSE: {loss:.8f}")
for i in range(3):
    diff = np.abs(y_val[i].item() - y_test[i].item())
    print(f"{i + 1:2}. {y_val[i].item():8.4f} {y_test[i].item():8.4f} {diff:8.4f}")
print("bn_cont running mean:", model.bn_cont.running_mean.numpy().round(5).tolist())
