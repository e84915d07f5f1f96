"""Train a small MLP on scikit-learn's 8x8 digits with kiln, eagerly or with kiln.jit.

    python examples/train_digits.py --epochs 10 --jit

A plain script to copy from: a dataset and DataLoader, an nn.Sequential model, Adam with a
cosine learning-rate schedule, a training step that ``kiln.jit`` compiles whole (forward,
backward and optimizer update), evaluation, and a checkpoint saved with ``kiln.save``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

import kiln
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.utils.data import DataLoader, TensorDataset, random_split


def main() -> None:
    parser = argparse.ArgumentParser(description="MLP on the 8x8 digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--jit", action="store_true", help="compile the training step")
    parser.add_argument("--dump", metavar="DIR", help="write the compiled step's graphs here")
    parser.add_argument("--save", metavar="FILE", help="save a checkpoint with kiln.save")
    args = parser.parse_args()

    # data: 1797 images of 8x8 pixels in 0..16, bundled with scikit-learn
    digits = load_digits()
    images = kiln.tensor((digits.data / 16.0).astype(np.float32))
    labels = kiln.tensor(digits.target)
    train_set, test_set = random_split(
        TensorDataset(images, labels), [0.8, 0.2], generator=kiln.Generator().manual_seed(args.seed)
    )
    loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=kiln.Generator().manual_seed(args.seed),
    )
    x_test, y_test = next(iter(DataLoader(test_set, batch_size=len(test_set))))

    kiln.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
    opt = kiln.optim.Adam(model.parameters(), lr=args.lr)
    sched = kiln.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = kiln.jit(train_step) if args.jit else train_step

    start, steps = time.perf_counter(), 0
    for epoch in range(args.epochs):
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False)
        for x, y in bar:
            loss = step(x, y)
            steps += 1
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{sched.get_last_lr()[0]:.4f}")
        sched.step()
    seconds = time.perf_counter() - start

    model.eval()
    with kiln.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    mode = "jit" if args.jit else "eager"
    print(
        f"{mode}: {steps} steps in {seconds:.1f} s ({steps / seconds:.0f} steps/s), "
        f"final loss {loss.item():.4f}"
    )
    print(f"test accuracy: {accuracy:.2%}")

    if args.jit and args.dump:
        step.inspect(x, y).dump(args.dump)
        print(f"graphs and kernels of the training step written to {args.dump}")
    if args.save:
        kiln.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
            },
            args.save,
        )
        print(f"checkpoint saved to {args.save}")


if __name__ == "__main__":
    main()
