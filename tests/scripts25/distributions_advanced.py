# torch.distributions composition as probabilistic models use it: LogNormal vs
# TransformedDistribution(Normal, ExpTransform), an affine-transformed distribution and
# its log_prob, MixtureSameFamily (a Gaussian mixture's log_prob, mean, variance),
# expand, Independent reinterpretation, a batched Categorical's entropy / log_prob,
# RelaxedOneHotCategorical rsample shapes and its gradient, constraints checks, and
# transforms' inverse / log_abs_det_jacobian.
import torch
from torch.distributions import (
    AffineTransform,
    Categorical,
    ExpTransform,
    Independent,
    LogNormal,
    MixtureSameFamily,
    Normal,
    RelaxedOneHotCategorical,
    SigmoidTransform,
    TransformedDistribution,
    constraints,
)

base = Normal(torch.tensor([0.0, 0.5]), torch.tensor([1.0, 0.3]))
ln = LogNormal(torch.tensor([0.0, 0.5]), torch.tensor([1.0, 0.3]))
td = TransformedDistribution(base, [ExpTransform()])
v = torch.tensor([0.7, 2.0])
print("lognormal:", ln.log_prob(v), td.log_prob(v), ln.mean, ln.variance)
aff = TransformedDistribution(Normal(0.0, 1.0), [AffineTransform(loc=3.0, scale=2.0)])
print("affine:", aff.log_prob(torch.tensor(4.0)), Normal(3.0, 2.0).log_prob(torch.tensor(4.0)))
t = ExpTransform()
print(
    "transform:",
    t(torch.tensor(1.0)),
    t.inv(torch.tensor(2.0)),
    t.log_abs_det_jacobian(torch.tensor(1.0), t(torch.tensor(1.0))),
)
s = SigmoidTransform()
print(
    "sigmoid transform:",
    s(torch.tensor(0.0)),
    s.inv(torch.tensor(0.25)),
    s.log_abs_det_jacobian(torch.tensor(0.0), torch.tensor(0.5)),
)
mix = Categorical(torch.tensor([0.3, 0.7]))
comp = Normal(torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 1.0]))
gmm = MixtureSameFamily(mix, comp)
x = torch.tensor([-1.0, 0.0, 2.5])
print("gmm log_prob:", gmm.log_prob(x))
manual = torch.logsumexp(comp.log_prob(x.unsqueeze(-1)) + mix.logits, -1)
print("gmm manual:", torch.allclose(gmm.log_prob(x), manual), gmm.mean, gmm.variance)
print("gmm shapes:", gmm.batch_shape, gmm.event_shape)
comp2 = Independent(Normal(torch.zeros(3, 2), torch.ones(3, 2)), 1)
gmm2 = MixtureSameFamily(Categorical(torch.ones(3)), comp2)
print("2-d gmm:", gmm2.log_prob(torch.zeros(2)), gmm2.event_shape)
e = Normal(torch.tensor(0.0), torch.tensor(1.0)).expand((2, 3))
print("expand:", e.batch_shape, e.log_prob(torch.zeros(2, 3)).shape, e.mean.shape)
ind = Independent(Normal(torch.zeros(4, 3), torch.ones(4, 3)), 1)
print(
    "independent:", ind.batch_shape, ind.event_shape, ind.entropy(), ind.log_prob(torch.ones(4, 3))
)
cat = Categorical(logits=torch.tensor([[0.0, 1.0, 2.0], [2.0, 2.0, 2.0]]))
print(
    "categorical batch:",
    cat.entropy(),
    cat.log_prob(torch.tensor([2, 0])),
    cat.log_prob(torch.tensor([[0], [1]])).shape,
)
print(
    "enumerate_support:", cat.enumerate_support().shape, cat.enumerate_support(expand=False).shape
)
logits = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
relaxed = RelaxedOneHotCategorical(torch.tensor(0.5), logits=logits)
torch.manual_seed(0)
y = relaxed.rsample((4,))
print("relaxed:", y.shape, torch.allclose(y.sum(-1), torch.ones(4)), y.requires_grad)
(y[:, 0]).sum().backward()
print("relaxed grad exists:", logits.grad is not None and logits.grad.shape == (3,))
print(
    "constraints:",
    constraints.positive.check(torch.tensor([1.0, -1.0])),
    constraints.simplex.check(torch.tensor([0.3, 0.7])),
    constraints.unit_interval.check(torch.tensor([0.0, 1.5])),
)
print("support:", ln.support, Categorical(torch.ones(3)).support)
print("arg constraints:", sorted(Normal.arg_constraints))
print(
    "cdf/icdf of transformed:", ln.cdf(torch.tensor([1.0, 1.0])), ln.icdf(torch.tensor([0.5, 0.5]))
)
