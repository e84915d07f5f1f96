"""kiln.distributed: 2 MPI ranks with DistributedDataParallel train exactly like one
process on the concatenated batches, eagerly and compiled; a failing rank aborts the job.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln.distributed import DistributedSampler, make_buckets, split

pytest.importorskip("mpi4py", reason="kiln[mpi] extra not installed (pip install mpi4py mpich)")


def find_mpiexec():
    beside_python = Path(sys.executable).parent / "mpiexec"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
needs_mpiexec = pytest.mark.skipif(
    MPIEXEC is None,
    reason="mpiexec not found (the mpich wheel puts it beside the Python executable)",
)

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import kiln
    import kiln.distributed as dist

    mode, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    single = mode.startswith("single")
    if single:
        rank, world = 0, 1
    else:
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()

    class MLP:
        def __init__(self, seed):
            rng = np.random.default_rng(seed)
            def param(*shape):
                return kiln.tensor(rng.normal(0, 0.5, shape).astype(np.float32),
                                   requires_grad=True)
            self.w1, self.b1, self.w2, self.b2 = param(4, 16), param(16), param(16, 3), param(3)
        def parameters(self):
            return [self.w1, self.b1, self.w2, self.b2]
        def __call__(self, x):
            return (x @ self.w1 + self.b1).tanh() @ self.w2 + self.b2

    model = MLP(seed=rank)  # ranks start different: DDP's broadcast must make them equal
    if single:
        net = model
    else:  # a tiny bucket cap: several buckets, several Allreduce calls per step
        net = dist.DistributedDataParallel(model, bucket_cap_mb=200 / 2 ** 20)
    optimizer = kiln.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        optimizer.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        if not single:
            net.sync_gradients()
        optimizer.step()
        return loss

    if mode == "jit":  # plain kiln.jit: the all-reduce splits the compiled step in stages
        step = kiln.jit(step)
    elif mode == "single-jit":
        step = kiln.jit(step)
    if mode == "fail" and rank == 1:
        raise ValueError("boom on rank 1")

    data = np.random.default_rng(7)
    per_rank = 4
    xs = data.normal(size=(steps, 2 * per_rank, 4)).astype(np.float32)
    ys = data.normal(size=(steps, 2 * per_rank, 3)).astype(np.float32)
    for s in range(steps):
        lo, hi = (0, 2 * per_rank) if single else (rank * per_rank, (rank + 1) * per_rank)
        step(kiln.tensor(xs[s, lo:hi]), kiln.tensor(ys[s, lo:hi]))
    np.savez(out.replace(".npz", f".rank{rank}.npz"),
             *[p.detach().numpy() for p in model.parameters()])
    if not single:
        dist.barrier()
    """)

STEPS = 3


def run(tmp_path, mode, ranks=2, timeout=120):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"{mode}.npz"
    command = [sys.executable, str(script), mode, str(STEPS), str(out)]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks)] + command
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, out


def load(path, rank=0):
    with np.load(str(path).replace(".npz", f".rank{rank}.npz")) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    proc, out = run(tmp_path_factory.mktemp("single"), "single", ranks=0)
    assert proc.returncode == 0, proc.stderr
    return load(out)


@needs_mpiexec
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_ddp_matches_single_process(tmp_path, mode, single_process):
    proc, out = run(tmp_path, mode)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rank in range(2):  # every replica ends equal to the single-process run
        for got, want in zip(load(out, rank), single_process):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@needs_mpiexec
def test_failing_rank_aborts_instead_of_hanging(tmp_path):
    proc, _ = run(tmp_path, "fail", timeout=180)  # a hang would never end; 180 s is load slack
    assert proc.returncode != 0
    assert "ValueError: boom on rank 1" in proc.stderr


def test_buckets_respect_cap_and_dtype():
    params = [
        kiln.zeros(10),
        kiln.zeros(10),
        kiln.zeros(30),
        kiln.zeros(5, dtype=kiln.float64),
        kiln.zeros(2),
    ]
    buckets = make_buckets(params, cap_bytes=100)
    assert [[tuple(p.shape) for p in b] for b in buckets] == [
        [(10,), (10,)],
        [(30,)],
        [(5,)],
        [(2,)],
    ]


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_partitions_the_dataset(drop_last):
    n, ranks = 11, 3
    shards = [
        list(DistributedSampler(range(n), ranks, r, shuffle=True, seed=4, drop_last=drop_last))
        for r in range(ranks)
    ]
    sizes = {len(s) for s in shards}
    assert sizes == ({3} if drop_last else {4})
    flat = sum(shards, [])
    assert set(flat) <= set(range(n))
    assert len(set(flat)) == (9 if drop_last else n)  # padding repeats, never drops


def test_sampler_set_epoch_reshuffles_the_same_way_on_every_rank():
    a = DistributedSampler(range(20), 2, 0, seed=1)
    b = DistributedSampler(range(20), 2, 1, seed=1)
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) != first
    assert sorted(list(a) + list(b)) == list(range(20))


def test_split_puts_collective_users_in_a_later_stage():
    from kiln.compiler.ir import Graph
    from kiln.distributed.staged import Collective

    g = Graph("step")
    x = g.add_input((3,), "float32")
    pre = g.add_node("mul", [x, x])
    post = g.add_input((3,), "float32", name="all_reduce_0")
    two = g.add_const(np.float32(2))
    y = g.add_node("mul", [post, two])
    z = g.add_node("add", [y, pre])
    g.outputs = [z, pre]
    stages = split(g, [Collective(pre, post, "sum")])
    assert [len(s.collectives) for s in stages] == [1, 0]
    assert stages[0].outputs == [pre]
    assert stages[1].inputs == [post, pre]
    assert [n.op for n in stages[1].graph.nodes] == ["input", "const", "mul", "input", "add"]


def test_all_reduce_inside_a_bare_trace_is_a_clear_error():
    import kiln.distributed as dist
    from kiln.compiler.errors import TraceError

    with pytest.raises(TraceError, match="kiln.jit"):
        kiln.trace(lambda t: dist.all_reduce(t) or t, kiln.zeros(2))


@needs_mpiexec
def test_example_script_trains_on_two_ranks():
    nn = pytest.importorskip("kiln.nn")
    if not all(hasattr(nn, name) for name in ("Sequential", "Linear", "ReLU")):
        pytest.skip("kiln.nn layers not available yet")
    script = Path(__file__).resolve().parent.parent / "examples" / "train_ddp.py"
    proc = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(script), "--epochs", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    accuracy = float(proc.stdout.split("accuracy ")[1].split()[0])
    assert accuracy > 0.9
