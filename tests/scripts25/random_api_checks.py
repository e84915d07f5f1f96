# ruff: noqa: E501  (one probe per line: a table of short calls)
# The random-number API as data augmentation and sampling code calls it, checked by
# shapes, dtypes, supports and statistics (the drawn values differ between frameworks by
# design): randint / randn / rand_like / randperm / normal forms, multinomial with and
# without replacement (and its errors), bernoulli with a probability argument, poisson,
# the in-place random_ / exponential_ / geometric_ / log_normal_ / cauchy_ / uniform_ /
# normal_ fills, seeding and generators, get / set_rng_state, and the dropout family.
import torch


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__)


torch.manual_seed(0)
show(
    "randint",
    lambda: (
        torch.randint(0, 10, (3,)).dtype,
        torch.randint(5, (2, 2)).shape,
        torch.randint(3, 4, (2,)).tolist(),
    ),
)
show("randint dtype", lambda: torch.randint(0, 2, (2,), dtype=torch.bool).dtype)
show("randint_like", lambda: torch.randint_like(torch.zeros(2, dtype=torch.int32), 5).dtype)
show(
    "randn dtype",
    lambda: (
        torch.randn(2, dtype=torch.float64).dtype,
        torch.randn(()).shape,
        torch.randn(0).shape,
    ),
)
show("rand_like", lambda: torch.rand_like(torch.zeros(2, 3, dtype=torch.float16)).dtype)
show(
    "randperm",
    lambda: (torch.randperm(5).dtype, sorted(torch.randperm(5).tolist()), torch.randperm(0).shape),
)
show("normal tensor", lambda: torch.normal(torch.zeros(3), torch.ones(3)).shape)
show("normal scalar size", lambda: torch.normal(2.0, 3.0, size=(2, 2)).shape)
show("normal mean tensor std float", lambda: torch.normal(torch.zeros(4), 1.0).shape)
show(
    "multinomial",
    lambda: (
        torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 2, replacement=True).tolist(),
        torch.multinomial(torch.ones(2, 5), 3).shape,
    ),
)
show("multinomial too many", lambda: torch.multinomial(torch.ones(3), 5))
show(
    "multinomial zero prob excluded",
    lambda: sorted(torch.multinomial(torch.tensor([1.0, 0.0, 1.0]), 2).tolist()),
)
show(
    "bernoulli dtype",
    lambda: (
        torch.bernoulli(torch.full((3,), 0.5)).dtype,
        torch.bernoulli(torch.ones(2), p=0.0).tolist(),
    ),
)
show(
    "poisson",
    lambda: (torch.poisson(torch.zeros(3)).tolist(), torch.poisson(torch.full((2,), 3.0)).dtype),
)
show(
    "random_",
    lambda: (lambda t: (t.random_(0, 5), ((t >= 0) & (t < 5)).all().item())[1])(torch.zeros(100)),
)
show("random_ int", lambda: torch.zeros(3, dtype=torch.int64).random_(10).dtype)
show("exponential_", lambda: (torch.empty(1000).exponential_(2.0) > 0).all().item())
show("geometric_", lambda: (torch.empty(1000).geometric_(0.5) >= 1).all().item())
show("log_normal_", lambda: (torch.empty(100).log_normal_() > 0).all().item())
show("cauchy_", lambda: torch.empty(3).cauchy_().shape)
show(
    "uniform_ range",
    lambda: (lambda t: ((t >= -2) & (t < 3)).all().item())(torch.empty(1000).uniform_(-2, 3)),
)
show("normal_ stats", lambda: round(torch.empty(100000).normal_(5.0, 0.1).mean().item(), 1))
show("rand stats", lambda: round(torch.rand(100000).mean().item(), 1))
show(
    "randn stats",
    lambda: (
        round(torch.randn(100000).mean().item(), 1),
        round(torch.randn(100000).std().item(), 1),
    ),
)
show(
    "seed reproducible",
    lambda: (
        (torch.manual_seed(7), torch.rand(3))[1].tolist()
        == (torch.manual_seed(7), torch.rand(3))[1].tolist()
    ),
)
g = torch.Generator().manual_seed(3)
show(
    "generator reproducible",
    lambda: torch.rand(2, generator=g).tolist() != torch.rand(2, generator=g).tolist(),
)
state = torch.get_rng_state()
first = torch.rand(2)
torch.set_rng_state(state)
print("rng after set_rng_state:", first.tolist())
print("set_rng_state replays:", torch.equal(first, torch.rand(2)))
show(
    "dropout scale",
    lambda: (lambda o: sorted(set(o.tolist())))(torch.nn.functional.dropout(torch.ones(1000), 0.2)),
)
show("dropout p=1", lambda: torch.nn.functional.dropout(torch.ones(3), 1.0).tolist())
show("dropout p=0", lambda: torch.nn.functional.dropout(torch.ones(3), 0.0).tolist())
show(
    "dropout2d channels",
    lambda: (lambda o: all(len(set(c.flatten().tolist())) == 1 for c in o[0]))(
        torch.nn.functional.dropout2d(torch.ones(1, 8, 3, 3), 0.5)
    ),
)
show(
    "alpha_dropout eval",
    lambda: torch.nn.functional.alpha_dropout(torch.ones(3), 0.5, training=False).tolist(),
)
show(
    "gumbel_softmax soft sums",
    lambda: torch.allclose(
        torch.nn.functional.gumbel_softmax(torch.zeros(2, 3)).sum(-1), torch.ones(2)
    ),
)
