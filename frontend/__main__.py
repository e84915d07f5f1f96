"""``python -m kiln demo`` (or ``kiln demo``): train an MLP on scikit-learn's 8x8 digits;
``python -m kiln cache --info`` / ``--clear``: show or empty the kernel cache.

The same model (same initial weights) is trained twice on the same batches: first eagerly,
then with the training step compiled by ``kiln.jit``. The demo prints the test accuracy and
the steps per second of both, the speedup, and the folder where the compiled step's graphs
(after every pass) and generated kernels were written.

    $ python -m kiln demo --epochs 10 --seed 0 --dump kiln_dump

The digits ship with scikit-learn (``sklearn.datasets.load_digits``): nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import kiln
from kiln.runtime import kernel_cache
from kiln.utils.data import DataLoader, TensorDataset

HIDDEN = 128


def load_digits_tensors(seed: int, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test) as kiln tensors; pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    return (
        kiln.from_numpy(x[train]),
        kiln.from_numpy(y[train]),
        kiln.from_numpy(x[test]),
        kiln.from_numpy(y[test]),
    )


def make_model(seed: int):
    kiln.manual_seed(seed)
    nn = kiln.nn
    return nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Dropout(0.1), nn.Linear(HIDDEN, 10))


def accuracy(model, x, y) -> float:
    model.eval()
    with kiln.no_grad():
        predicted = model(x).argmax(1)
    model.train()
    return float((predicted == y).float().mean().item())


def train(model, loader, epochs: int, compiled: bool, seed: int, progress=True):
    """Train ``model`` in place; return (step function, per-step seconds, how many steps
    ran in the reference interpreter while the kernels compiled)."""
    from tqdm import tqdm

    F = kiln.nn.functional
    opt = kiln.optim.Adam(model.parameters(), lr=1e-2)
    sched = kiln.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = kiln.jit(train_step) if compiled else train_step
    kiln.manual_seed(seed + 1)  # the same dropout masks in both runs
    bar = tqdm(
        total=epochs * len(loader),
        desc="jit  " if compiled else "eager",
        unit="step",
        disable=not progress,
        ncols=80,
    )
    seconds = []
    executable = None  # (compiled: whose ``tiers`` say when the kernels took over)
    interpreted = None
    for _ in range(epochs):
        for x, y in loader:
            start = time.perf_counter()
            loss = step(x, y)
            seconds.append(time.perf_counter() - start)
            if compiled and executable is None:
                executable = step.inspect(x, y).executable
            if interpreted is None and executable is not None:
                if getattr(executable, "tiers", {"compiled": 1}).get("compiled"):
                    # the steps before ran in the reference interpreter while LLVM compiled
                    interpreted = len(seconds) - 1
            if len(seconds) % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update(1)
        sched.step()
    bar.close()
    return step, seconds, interpreted or 0


def _speed(seconds, interpreted: int = 0) -> dict:
    """Steps per second over the steps after the first (which traces and compiles) and
    after the ``interpreted`` ones (tiered: run by the reference interpreter while LLVM
    compiled, the last of them waiting for it), and the median step time (robust when
    other processes share the CPU)."""
    skip = max(1, interpreted + 1)
    steady = np.asarray(seconds[skip:] if len(seconds) > skip else seconds[1:])
    return dict(
        first_step_s=seconds[0],
        interpreted_steps=interpreted,
        until_compiled_s=float(sum(seconds[:skip])),
        steps=len(seconds),
        steps_per_s=len(steady) / steady.sum(),
        median_step_ms=1e3 * np.median(steady),
    )


def demo(
    epochs: int = 10,
    seed: int = 0,
    dump: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """Train eagerly, then compiled, from the same initial weights; return the numbers."""
    x_train, y_train, x_test, y_test = load_digits_tensors(seed)
    dataset = TensorDataset(x_train, y_train)
    print(
        f"digits: {len(x_train)} train / {len(x_test)} test images of 8x8, MLP 64-{HIDDEN}-10, "
        f"Adam, {epochs} epochs of {len(x_train) // batch_size} steps"
    )

    def loader():
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            generator=kiln.Generator().manual_seed(seed),
        )

    results = {}
    initial = None
    for mode in ("eager", "jit"):
        model = make_model(seed)
        if initial is None:
            initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            model.load_state_dict(initial)
        step, seconds, interpreted = train(model, loader(), epochs, mode == "jit", seed, progress)
        results[mode] = dict(
            accuracy=accuracy(model, x_test, y_test), step=step, **_speed(seconds, interpreted)
        )

    eager, jit = results["eager"], results["jit"]
    speedup = eager["median_step_ms"] / jit["median_step_ms"]
    folder = dump or os.path.join(tempfile.gettempdir(), "kiln_demo_dump")
    x, y = next(iter(loader()))
    jit["step"].inspect(x, y).dump(folder)
    for name, r in (("eager", eager), ("jit", jit)):
        print(
            f"{name + ':':6} test accuracy {r['accuracy']:.2%}, {r['steps_per_s']:.0f} steps/s "
            f"(median step {r['median_step_ms']:.2f} ms)"
        )
    print(f"jit first step (trace + compile): {jit['first_step_s']:.2f} s")
    if jit["interpreted_steps"]:
        print(
            f"jit: the first {jit['interpreted_steps']} steps ran in the reference interpreter "
            f"while LLVM compiled; compiled from step {jit['interpreted_steps'] + 1}, "
            f"{jit['until_compiled_s']:.2f} s after the start (steps/s counts the steps after)"
        )
    print(f"speedup of the compiled step (median step time): {speedup:.1f}x")
    print(f"graphs after every pass and the generated kernels of the step: {folder}")
    results["speedup"] = speedup
    results["dump"] = folder
    return results


def cache_command(info: bool, clear: bool) -> int:
    """Print what the kernel cache holds (``info``) and/or empty it (``clear``)."""
    folder = kernel_cache.cache_dir()
    if clear:
        removed = kernel_cache.clear_cache(folder)
        print(f"removed {removed} files from {folder}")
    if info or not clear:
        facts = kernel_cache.cache_info(folder)
        print(f"kernel cache: {facts['folder']}")
        print(
            f"  {facts['entries']} kernels ({facts['stale']} built by other versions, "
            f"{facts['damaged']} damaged), {facts['compiled_files']} Numba cache files, "
            f"{facts['native']} native kernels, "
            f"{facts['bytes'] / 1e6:.1f} MB"
        )
        versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
        print(f"  this process builds with {versions}")
        print("  (set KILN_CACHE_DIR to move it; damaged or stale entries are rebuilt on use)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kiln", description="kiln command line")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="train an MLP on the 8x8 digits, eager vs kiln.jit")
    run.add_argument("--epochs", type=int, default=10)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--dump",
        metavar="DIR",
        default=None,
        help="folder for the compiled step's graphs and kernels",
    )
    run.add_argument("--batch-size", type=int, default=64)
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    cache = commands.add_parser("cache", help="show or clear the on-disk kernel cache")
    cache.add_argument("--info", action="store_true", help="describe the cache (the default)")
    cache.add_argument("--clear", action="store_true", help="delete every cached kernel")
    args = parser.parse_args(argv)
    if args.command == "cache":
        return cache_command(args.info, args.clear)
    if args.command == "demo":
        results = demo(
            args.epochs, args.seed, args.dump, args.batch_size, progress=not args.no_progress
        )
        return 0 if results["jit"]["accuracy"] > 0 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
