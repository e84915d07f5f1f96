# torch.distributions docs examples: log_prob / entropy / mean / variance / cdf / icdf of
# the common families, batch and event shapes, expand, Independent, TransformedDistribution
# (LogNormal as exp of a Normal), kl_divergence, support and has_rsample, argument
# validation, and the score-function / pathwise gradient estimators of the docs.
import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Exponential,
    Gamma,
    Independent,
    Laplace,
    LogNormal,
    Normal,
    Poisson,
    TransformedDistribution,
    Uniform,
    constraints,
    kl_divergence,
)
from torch.distributions.transforms import AffineTransform, ExpTransform, SigmoidTransform

torch.manual_seed(0)


def r(t, n=5):
    return [round(v, n) for v in (t.reshape(-1).tolist() if torch.is_tensor(t) else [t])]


value = torch.tensor([0.2, 0.5, 0.9])
families = {
    "Normal": Normal(torch.tensor([0.0, 1.0, -1.0]), torch.tensor([1.0, 0.5, 2.0])),
    "Laplace": Laplace(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, 2.0, 0.5])),
    "Uniform": Uniform(torch.tensor([0.0, 0.1, -1.0]), torch.tensor([1.0, 0.6, 1.0])),
    "Exponential": Exponential(torch.tensor([0.5, 1.0, 3.0])),
    "Gamma": Gamma(torch.tensor([2.0, 0.5, 3.0]), torch.tensor([1.0, 2.0, 0.5])),
    "Beta": Beta(torch.tensor([2.0, 0.5, 1.0]), torch.tensor([3.0, 0.5, 1.0])),
    "LogNormal": LogNormal(torch.tensor([0.0, 0.5, -0.5]), torch.tensor([1.0, 0.3, 0.8])),
}
for name, d in families.items():
    print(f"{name} log_prob:", r(d.log_prob(value)))
    print(
        f"{name} stats:",
        r(d.mean),
        r(d.variance),
        r(d.entropy()) if name != "LogNormal" else r(d.entropy()),
    )
    print(f"rng {name} sample:", list(d.sample((2,)).shape), d.has_rsample)
for name in ("Normal", "Laplace", "Uniform", "Exponential"):
    d = families[name]
    print(f"{name} cdf/icdf:", r(d.cdf(value)), r(d.icdf(torch.tensor([0.1, 0.5, 0.95]))))

m = Bernoulli(torch.tensor([0.3]))
print("Bernoulli:", r(m.log_prob(torch.tensor([1.0]))), r(m.entropy()), r(m.mean), r(m.variance))
print("Bernoulli logits:", r(Bernoulli(logits=torch.tensor([0.0, 2.0])).probs))
m = Categorical(torch.tensor([0.25, 0.25, 0.25, 0.25]))
print("Categorical uniform entropy:", r(m.entropy()), r(m.log_prob(torch.tensor(2))))
c = Categorical(logits=torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]]))
print(
    "Categorical:", r(c.probs, 4), r(c.log_prob(torch.tensor([0, 2]))), c.batch_shape, c.event_shape
)
print("Categorical enumerate_support:", c.enumerate_support().tolist())
print("rng Categorical sample:", c.sample((4,)).shape)
p = Poisson(torch.tensor([4.0, 0.5]))
print("Poisson:", r(p.log_prob(torch.tensor([2.0, 0.0]))), r(p.mean), r(p.variance))
dd = Dirichlet(torch.tensor([0.5, 1.0, 2.0]))
print("Dirichlet:", r(dd.log_prob(torch.tensor([0.2, 0.3, 0.5]))), r(dd.mean), r(dd.entropy()))

n = Normal(torch.zeros(3, 2), torch.ones(3, 2))
print(
    "shapes:",
    n.batch_shape,
    n.event_shape,
    Independent(n, 1).batch_shape,
    Independent(n, 1).event_shape,
)
print("expand:", n.expand(torch.Size([4, 3, 2])).batch_shape)
print("sample shape:", n.sample((5,)).shape, n.rsample(torch.Size([2, 1])).shape)
print("Independent log_prob:", r(Independent(n, 1).log_prob(torch.ones(3, 2))))

base = Normal(torch.tensor([0.0]), torch.tensor([1.0]))
logistic = TransformedDistribution(
    Uniform(torch.tensor([0.0]), torch.tensor([1.0])),
    [SigmoidTransform().inv, AffineTransform(loc=torch.tensor([1.0]), scale=torch.tensor([2.0]))],
)
print("logistic log_prob:", r(logistic.log_prob(torch.tensor([0.5]))))
ln = TransformedDistribution(base, [ExpTransform()])
print(
    "exp(Normal) == LogNormal:",
    torch.allclose(ln.log_prob(value), LogNormal(0.0, 1.0).log_prob(value)),
)

p1, q1 = (
    Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])),
    Normal(torch.tensor([1.0, 0.0]), torch.tensor([1.5, 1.0])),
)
print("KL normal:", r(kl_divergence(p1, q1)))
print(
    "KL categorical:",
    r(
        kl_divergence(
            Categorical(probs=torch.tensor([0.2, 0.8])), Categorical(probs=torch.tensor([0.5, 0.5]))
        )
    ),
)
print("KL bernoulli:", r(kl_divergence(Bernoulli(0.3), Bernoulli(0.6))))
print(
    "KL beta:",
    r(
        kl_divergence(
            Beta(torch.tensor(2.0), torch.tensor(3.0)), Beta(torch.tensor(1.0), torch.tensor(1.0))
        )
    ),
)
print(
    "KL gamma:",
    r(
        kl_divergence(
            Gamma(torch.tensor(2.0), torch.tensor(1.0)), Gamma(torch.tensor(3.0), torch.tensor(2.0))
        )
    ),
)

print("support:", Normal(0.0, 1.0).support, Bernoulli(0.5).support, Gamma(1.0, 1.0).support)
print(
    "constraints check:",
    constraints.positive.check(torch.tensor([-1.0, 2.0])).tolist(),
    constraints.unit_interval.check(torch.tensor(0.5)).item(),
)
try:
    Normal(torch.tensor([0.0]), torch.tensor([-1.0]))
except ValueError:
    print("invalid scale: ValueError")
try:
    Bernoulli(torch.tensor([0.5])).log_prob(torch.tensor([2.0]))
except ValueError:
    print("value outside support: ValueError")
print(
    "validate_args=False:",
    r(Normal(torch.tensor([0.0]), torch.tensor([-1.0]), validate_args=False).scale),
)

# the docs' score function (REINFORCE) and pathwise derivative estimators
probs = torch.tensor([0.2, 0.5, 0.3], requires_grad=True)
m = Categorical(probs)
action = torch.tensor(1)
reward = 2.0
loss = -m.log_prob(action) * reward
loss.backward()
print("score function grad:", r(probs.grad))
mu = torch.tensor([0.5], requires_grad=True)
sigma = torch.tensor([1.5], requires_grad=True)
torch.manual_seed(1)
sample = Normal(mu, sigma).rsample()
sample.backward()
print("pathwise grad mu:", mu.grad.tolist(), "sigma grad is eps:", sigma.grad.shape)
