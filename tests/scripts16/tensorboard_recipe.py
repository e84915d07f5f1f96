# "How to use TensorBoard with PyTorch" recipe: a SummaryWriter in a temporary log_dir,
# add_scalar in a training loop of y = -5x + noise, add_scalars, add_histogram, add_text,
# add_hparams, flush and close; then the event file is read back with TensorBoard's
# EventAccumulator (only deterministic content is printed).
import os
import tempfile

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

log_dir = tempfile.mkdtemp()
writer = SummaryWriter(log_dir=log_dir)
rng = np.random.default_rng(11)
x = torch.arange(-5, 5, 0.1).view(-1, 1)
y = -5 * x + torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * 0.1

model = torch.nn.Linear(1, 1)
with torch.no_grad():
    model.weight.fill_(0.5)
    model.bias.fill_(0.0)
criterion = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def train_model(iter):
    for epoch in range(iter):
        y1 = model(x)
        loss = criterion(y1, y)
        writer.add_scalar("Loss/train", loss, epoch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


train_model(10)
writer.add_scalars("run_14h", {"xsinx": 1.0, "xcosx": 2.0}, 0)
writer.add_histogram("weights", model.weight, 0)
writer.add_text("note", "hello tensorboard", 0)
writer.flush()
print("log dir:", writer.log_dir == log_dir, writer.get_logdir() == log_dir)
writer.close()

files = sorted(os.listdir(log_dir))
event_files = [f for f in files if f.startswith("events.out.tfevents")]
print("event files:", len(event_files))
print("subdirs:", sorted(f for f in files if os.path.isdir(os.path.join(log_dir, f))))

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

acc = EventAccumulator(os.path.join(log_dir, event_files[0]), size_guidance={"scalars": 0})
acc.Reload()
tags = acc.Tags()
print("scalar tags:", sorted(tags["scalars"]))
print("histogram tags:", sorted(tags["histograms"]))
loss_events = acc.Scalars("Loss/train")
print("loss steps:", [e.step for e in loss_events])
print("loss values:", [round(e.value, 4) for e in loss_events])
print("final weight:", round(model.weight.item(), 4))
