"""Data-parallel training on MPI: each rank trains on its share of every batch.

    mpiexec -n 2 python examples/train_ddp.py            # eager
    mpiexec -n 2 python examples/train_ddp.py --jit      # compiled step (kiln.jit)

(``mpiexec`` comes with ``pip install 'kiln[mpi]'``: it lies beside the Python executable.)
The script is plain PyTorch with ``import kiln as torch``-style names: DistributedSampler
shards the data, DistributedDataParallel averages the gradients, and every rank ends with
the same weights, which the last lines check.
"""

from __future__ import annotations

import argparse

import numpy as np

import kiln
import kiln.distributed as dist
import kiln.nn as nn
import kiln.nn.functional as F
from kiln.utils.data import DataLoader, TensorDataset


def make_data(n: int = 2048, seed: int = 0):
    """Three Gaussian blobs in 2-D: a small classification problem."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]], dtype=np.float32)
    labels = rng.integers(0, 3, n)
    points = centers[labels] + rng.normal(0, 0.7, (n, 2)).astype(np.float32)
    return TensorDataset(kiln.tensor(points), kiln.tensor(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jit", action="store_true", help="compile the training step")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="per rank")
    args = parser.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    kiln.manual_seed(rank)  # different on purpose: DDP broadcasts rank 0's weights

    dataset = make_data()
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True)

    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    ddp = dist.DistributedDataParallel(model)
    optimizer = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(ddp(x), y)
        loss.backward()
        ddp.sync_gradients()  # bucketed all-reduce; a stage boundary under kiln.jit
        optimizer.step()
        return loss

    step = kiln.jit(train_step) if args.jit else train_step
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        total, batches = kiln.zeros(()), 0
        for x, y in loader:
            total = total + step(x, y).detach()
            batches += 1
        dist.all_reduce(total)  # mean loss over every rank's batches
        if rank == 0:
            print(f"epoch {epoch}: loss {total.item() / (batches * world):.4f}")

    # every replica holds the same weights
    flat = kiln.cat([p.detach().reshape(-1) for p in model.parameters()])
    spread = flat.clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    assert np.allclose(spread.numpy(), flat.numpy()), f"rank {rank}: replicas diverged"
    if rank == 0:
        x, y = dataset[:]
        with kiln.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        print(f"accuracy {accuracy:.3f} on {world} ranks ({'jit' if args.jit else 'eager'})")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
