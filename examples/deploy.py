"""Train the digits MLP, export it to one file, and serve it from a process that only loads it.

    python examples/deploy.py --epochs 5 --out digits.kiln

The first process trains (as ``train_digits.py`` does), exports the model with a dynamic
batch dimension (``kiln.export.export`` with ``kiln.export.Dim``) and saves it
(``kiln.export.save``: one zip of JSON and ``.npy``). It then starts a second process,
``python examples/deploy.py serve digits.kiln``, which imports kiln and nothing of the
training code, loads the file and answers requests: one JSON line of images in, one
JSON line of predicted labels out. Requests of 1, 7 and all test images are sent; the
server's answers are compared with the trained model's own predictions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

import kiln

MAX_BATCH = 512


def serve(path: str) -> None:
    """Answer JSON-line requests with the program in ``path`` until stdin closes."""
    program = kiln.export.load(path)
    model = program.module()
    print(json.dumps({"ready": program.describe_dims()}), flush=True)
    for line in sys.stdin:
        images = np.asarray(json.loads(line)["images"], dtype=np.float32)
        logits = model(kiln.from_numpy(images))
        print(json.dumps({"labels": logits.argmax(1).tolist()}), flush=True)
    # per-call latency at batch 1, measured where the model is served
    one = kiln.from_numpy(images[:1])
    times = []
    for _ in range(200):
        start = time.perf_counter()
        model(one)
        times.append(time.perf_counter() - start)
    training_code = sorted(m for m in ("sklearn", "tqdm", "kiln.optim") if m in sys.modules)
    print(
        json.dumps({"p50_us": float(np.median(times) * 1e6), "training_modules": training_code}),
        flush=True,
    )


def train(epochs: int, seed: int):
    """The digits MLP of ``train_digits.py``, trained eagerly; test images and labels."""
    # training needs scikit-learn and kiln.optim; the server process must not import them
    from sklearn.datasets import load_digits

    import kiln.nn as nn
    import kiln.nn.functional as F
    from kiln.utils.data import DataLoader, TensorDataset, random_split

    digits = load_digits()
    images = kiln.tensor((digits.data / 16.0).astype(np.float32))
    labels = kiln.tensor(digits.target)
    generator = kiln.Generator().manual_seed(seed)
    train_set, test_set = random_split(
        TensorDataset(images, labels), [0.8, 0.2], generator=generator
    )
    loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True, generator=generator)
    x_test, y_test = next(iter(DataLoader(test_set, batch_size=len(test_set))))
    kiln.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
    opt = kiln.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval(), x_test, y_test


def main() -> None:
    parser = argparse.ArgumentParser(description="train, export and serve the digits MLP")
    parser.add_argument("command", nargs="?", default="train", choices=["train", "serve"])
    parser.add_argument("path", nargs="?", help="serve: the exported program")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="digits.kiln", help="where to save the program")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.path)
        return

    model, x_test, y_test = train(args.epochs, args.seed)
    batch = kiln.export.Dim("batch", min=1, max=MAX_BATCH)
    program = kiln.export.export(model, (x_test[:4],), dynamic_shapes=({0: batch},))
    kiln.export.save(program, args.out)
    print(f"exported to {args.out}: weights {list(program.state_dict)}, {program.describe_dims()}")
    with kiln.no_grad():
        expected = model(x_test).argmax(1).numpy()

    server = subprocess.Popen(
        [sys.executable, __file__, "serve", args.out],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    print(f"server ready: {json.loads(server.stdout.readline())['ready']}")
    served = []
    for start, stop in ((0, 1), (1, 8), (8, len(x_test))):  # batches of 1, 7 and the rest
        request = {"images": x_test[start:stop].numpy().tolist()}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        served += json.loads(server.stdout.readline())["labels"]
    server.stdin.close()
    stats = json.loads(server.stdout.readline())
    server.wait()
    served = np.array(served)
    agree = int((served == expected).sum())
    accuracy = float((served == y_test.numpy()).mean())
    print(f"served predictions agree with the trained model: {agree}/{len(expected)}")
    print(f"served test accuracy: {accuracy:.2%}")
    print(f"server: p50 latency at batch 1: {stats['p50_us']:.0f} us")
    print(f"server imported training code: {stats['training_modules'] or 'none'}")


if __name__ == "__main__":
    main()
