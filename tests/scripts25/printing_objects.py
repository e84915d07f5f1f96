# ruff: noqa: E501  (one probe per line: a table of short calls)
# print() of the objects users inspect besides tensors and modules: finfo / iinfo, every
# optimizer (its defaults per param group), distributions (the parameters they were built
# from), transforms and constraints, a PackedSequence, Parameters of other dtypes and
# shapes, buffers, gradients, dtypes / devices / Size, and the named tuples of max, sort,
# frexp, histogram and the torch.linalg factorizations.
import torch
import torch.distributions as D
from torch import nn


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__)


show("finfo", lambda: torch.finfo(torch.float32))
show("finfo f16", lambda: torch.finfo(torch.float16))
show("iinfo", lambda: torch.iinfo(torch.int8))
p = [nn.Parameter(torch.ones(1))]
for name in [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "ASGD",
    "Rprop",
    "LBFGS",
]:
    show("opt " + name, lambda name=name: getattr(torch.optim, name)(p, lr=0.01))
show("normal", lambda: D.Normal(torch.tensor([0.0]), torch.tensor([1.0])))
show("normal scalar", lambda: D.Normal(0.0, 1.0))
show("categorical", lambda: D.Categorical(probs=torch.tensor([0.2, 0.8])))
show("categorical logits", lambda: D.Categorical(logits=torch.tensor([0.2, 0.8])))
show("bernoulli", lambda: D.Bernoulli(probs=torch.tensor([0.3])))
show("mvn", lambda: D.MultivariateNormal(torch.zeros(2), torch.eye(2)))
show("independent", lambda: D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1))
show("uniform", lambda: D.Uniform(0.0, 2.0))
show("beta", lambda: D.Beta(torch.tensor([2.0]), torch.tensor([3.0])))
show("dirichlet", lambda: D.Dirichlet(torch.tensor([1.0, 2.0])))
show(
    "transformed",
    lambda: D.TransformedDistribution(D.Normal(0.0, 1.0), [D.transforms.ExpTransform()]),
)
show("lognormal", lambda: D.LogNormal(0.0, 1.0))
show("gamma", lambda: D.Gamma(torch.tensor([2.0]), torch.tensor([1.0])))
show("exp transform", lambda: D.transforms.ExpTransform())
show("affine transform", lambda: D.transforms.AffineTransform(0.0, 2.0))
show(
    "constraint",
    lambda: (
        D.constraints.positive,
        D.constraints.real,
        D.constraints.simplex,
        D.constraints.interval(0, 1),
    ),
)
seqs = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]
show("packed", lambda: nn.utils.rnn.pack_sequence(seqs))
show("param int", lambda: nn.Parameter(torch.tensor([1, 2]), requires_grad=False))
show("param f64", lambda: nn.Parameter(torch.tensor([1.5], dtype=torch.float64)))
show("param 0d", lambda: nn.Parameter(torch.tensor(2.0)))
show("param big", lambda: nn.Parameter(torch.zeros(3, 300)))
show("buffer print", lambda: nn.BatchNorm1d(2).running_var)
show(
    "grad print",
    lambda: (lambda w: ((w * 2).sum().backward(), w.grad)[1])(nn.Parameter(torch.ones(2))),
)
show(
    "dtype reprs",
    lambda: (torch.float32, torch.int64, torch.bool, torch.complex64, torch.bfloat16, torch.uint8),
)
show("device repr", lambda: [torch.device("cpu"), torch.device("cuda", 1)])
show("size repr", lambda: torch.Size([2, 3]))
show("return type repr", lambda: torch.tensor([1.0, 2.0]).max(0))
show("slogdet", lambda: torch.linalg.slogdet(torch.eye(2) * 2))
show("qr", lambda: torch.linalg.qr(torch.eye(2)))
show("eigh", lambda: torch.linalg.eigh(torch.eye(2)))
show("svd", lambda: torch.linalg.svd(torch.eye(2)))
show("lstsq", lambda: torch.linalg.lstsq(torch.eye(2), torch.ones(2, 1)))
show("inv_ex", lambda: torch.linalg.inv_ex(torch.eye(2)))
show("lu_factor", lambda: torch.linalg.lu_factor(torch.eye(2)))
show("histogram", lambda: torch.histogram(torch.tensor([1.0, 2.0]), bins=2))
show("frexp", lambda: torch.frexp(torch.tensor([8.0])))
show("sort", lambda: torch.sort(torch.tensor([2, 1])))
show("geqrf-like", lambda: torch.linalg.eig(torch.eye(2)))
