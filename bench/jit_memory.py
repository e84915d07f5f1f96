"""Does the jit cache keep discarded models alive? RSS over create/discard cycles.

Each cycle builds a new model of 4 Linear(256, 256) (about 1 MiB of parameters), rebinds
the global ``model`` a long-lived jitted function reads, calls it, and drops the old
model. The cache guards ``model`` and recompiles; it must hold models only weakly and
evict dead variants, so RSS stays flat after the first cycles (a leak would grow it by
~1 MiB a cycle). A jitted method (the module is an argument, keyed by id) is measured too.

Run: ``python bench/jit_memory.py``
"""

from __future__ import annotations

import gc
import resource

import kiln
import kiln.nn as nn

CYCLES = 50
model = None


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def make():
    return nn.Sequential(*[nn.Linear(256, 256) for _ in range(4)])


@kiln.jit
def run(x):
    return model(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = make()

    @kiln.jit
    def forward(self, x):
        return self.body(x)


def measure(label, cycle) -> None:
    x = kiln.randn(8, 256)
    marks = []
    with kiln.no_grad():
        for i in range(CYCLES):
            cycle(x)
            gc.collect()
            if i in (4, CYCLES // 2, CYCLES - 1):
                marks.append(rss_mib())
    growth = (marks[-1] - marks[0]) / (CYCLES - 5)
    print(
        f"{label:34s} RSS after 5/{CYCLES // 2}/{CYCLES} cycles: "
        + " / ".join(f"{m:.0f}" for m in marks)
        + f" MiB; {growth:+.2f} MiB per cycle after the 5th"
    )


def global_cycle(x):
    global model
    model = make()
    run(x)


def method_cycle(x):
    Net()(x)


if __name__ == "__main__":
    measure("global model rebound, jitted fn", global_cycle)
    measure("new module, jitted method", method_cycle)
