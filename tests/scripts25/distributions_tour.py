# torch.distributions as RL / VAE / Bayesian code uses it: Normal, Categorical (probs and
# logits), Bernoulli, Beta, Gamma, Dirichlet, Uniform, Laplace, Poisson, Binomial,
# MultivariateNormal and Independent: log_prob, entropy, mean / variance / stddev, cdf /
# icdf, batch_shape / event_shape, sample shapes, rsample gradients (the
# reparameterization trick), kl_divergence, and a seeded sample (drawn values differ).
import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Dirichlet,
    Gamma,
    Independent,
    Laplace,
    MultivariateNormal,
    Normal,
    Poisson,
    Uniform,
    kl_divergence,
)

n = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
print("normal log_prob:", n.log_prob(torch.tensor([0.5, 0.5])))
print("normal entropy:", n.entropy(), "mean/std:", n.mean, n.stddev, n.variance)
print("normal cdf/icdf:", n.cdf(torch.tensor([0.0, 3.0])), n.icdf(torch.tensor([0.5, 0.975])))
print("shapes:", n.batch_shape, n.event_shape, n.sample().shape, n.sample((3,)).shape)
print(n)
c = Categorical(probs=torch.tensor([0.1, 0.2, 0.7]))
print("categorical log_prob:", c.log_prob(torch.tensor([0, 2])), "entropy:", c.entropy())
cl = Categorical(logits=torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
print("logits probs:", cl.probs, cl.batch_shape, cl.param_shape)
print("logits normalized:", cl.logits)
torch.manual_seed(0)
s = cl.sample((4,))
print("rng categorical sample:", s.tolist())
print("sample shape/dtype:", s.shape, s.dtype, bool(((s >= 0) & (s < 3)).all()))
b = Bernoulli(logits=torch.tensor([0.0, 2.0]))
print("bernoulli:", b.probs, b.log_prob(torch.tensor([1.0, 0.0])), b.entropy())
beta = Beta(torch.tensor([2.0]), torch.tensor([3.0]))
print("beta:", beta.mean, beta.variance, beta.log_prob(torch.tensor([0.3])), beta.entropy())
gam = Gamma(torch.tensor([2.0]), torch.tensor([0.5]))
print("gamma:", gam.mean, gam.variance, gam.log_prob(torch.tensor([3.0])), gam.entropy())
dir_ = Dirichlet(torch.tensor([1.0, 2.0, 3.0]))
print("dirichlet:", dir_.mean, dir_.log_prob(torch.tensor([0.2, 0.3, 0.5])), dir_.event_shape)
u = Uniform(torch.tensor([0.0]), torch.tensor([4.0]))
print("uniform:", u.log_prob(torch.tensor([1.0])), u.entropy(), u.cdf(torch.tensor([1.0])))
lap = Laplace(0.0, 2.0)
print("laplace:", lap.log_prob(torch.tensor(1.0)), lap.entropy(), lap.variance)
poi = Poisson(torch.tensor([3.0]))
print("poisson:", poi.log_prob(torch.tensor([2.0])), poi.mean)
bino = Binomial(10, torch.tensor([0.3]))
print("binomial:", bino.log_prob(torch.tensor([3.0])), bino.mean, bino.variance)
mvn = MultivariateNormal(torch.zeros(2), covariance_matrix=torch.tensor([[2.0, 0.5], [0.5, 1.0]]))
print("mvn:", mvn.log_prob(torch.tensor([1.0, -1.0])), mvn.entropy(), mvn.event_shape)
print("mvn scale_tril:", mvn.scale_tril)
ind = Independent(Normal(torch.zeros(3, 2), torch.ones(3, 2)), 1)
print("independent:", ind.batch_shape, ind.event_shape, ind.log_prob(torch.zeros(3, 2)))
mu = torch.tensor([0.5, -0.5], requires_grad=True)
sigma = torch.tensor([1.0, 0.5], requires_grad=True)
q = Normal(mu, sigma)
torch.manual_seed(1)
z = q.rsample((1000,))
print("rsample grad_fn:", z.grad_fn is not None, z.requires_grad)
(z**2).mean().backward()
print("rng rsample grads:", mu.grad.tolist(), sigma.grad.tolist())
p = Normal(torch.zeros(2), torch.ones(2))
kl = kl_divergence(Normal(mu, sigma), p)
print("kl normal:", kl)
print("kl closed form:", torch.allclose(kl, 0.5 * (sigma**2 + mu**2 - 1) - sigma.log()))
print("kl categorical:", kl_divergence(c, Categorical(probs=torch.ones(3) / 3)))
print("kl bernoulli:", kl_divergence(Bernoulli(0.3), Bernoulli(0.5)))
print("kl beta:", kl_divergence(beta, Beta(torch.tensor([1.0]), torch.tensor([1.0]))))
try:
    Normal(0.0, -1.0)
except ValueError as e:
    print("validate:", type(e).__name__)
print("support:", n.support, c.support, b.has_rsample, n.has_rsample)
