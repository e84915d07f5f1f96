"""``kiln.distributions``: ``torch.distributions`` on kiln tensors.

The families (``Normal``, ``Categorical``, ``Bernoulli``, ``Uniform``, ``Independent``,
``OneHotCategorical``, ``MultivariateNormal``, ``Exponential``, ``Gamma``, ``Chi2``,
``Beta``, ``Dirichlet``, ``Laplace``, ``Poisson``, ``Binomial``, ``Geometric``,
``StudentT``, ``Cauchy``, ``Gumbel``, ``HalfNormal``, ``HalfCauchy``, ``LogNormal``,
``LogisticNormal``, ``MixtureSameFamily``, ``TransformedDistribution``) with PyTorch's
parameterisations, ``sample``/``rsample``, ``log_prob``, ``entropy``, ``cdf``/``icdf``,
moments, ``expand`` and ``arg_constraints``/``support``; ``constraints``, ``transforms``,
``kl_divergence`` and ``register_kl``.

Parameters are checked as PyTorch checks them by default (``validate_args``): a probability
vector that is not a simplex, a non-positive scale, or a value outside the support raises
``ValueError``.

>>> import kiln
>>> m = Categorical(probs=kiln.tensor([0.25, 0.75]))
>>> round(m.log_prob(kiln.tensor(1)).item(), 4)
-0.2877
>>> round(Normal(0.0, 1.0).entropy().item(), 4)
1.4189
"""

from . import constraint_registry, constraints, transforms
from ._classic import (
    Bernoulli,
    Categorical,
    Independent,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Uniform,
)
from .constraint_registry import biject_to, transform_to
from .distribution import Distribution, ExponentialFamily
from .families import (
    Beta,
    Binomial,
    Cauchy,
    Chi2,
    ContinuousBernoulli,
    Dirichlet,
    Exponential,
    FisherSnedecor,
    Gamma,
    GeneralizedPareto,
    Geometric,
    Laplace,
    MixtureSameFamily,
    Multinomial,
    NegativeBinomial,
    Poisson,
    StudentT,
    VonMises,
)
from .kl import kl_divergence, register_kl
from .transformed import (
    Gumbel,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    LogNormal,
    Pareto,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    TransformedDistribution,
    Weibull,
)
from .transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

__all__ = [
    "AbsTransform",
    "AffineTransform",
    "Bernoulli",
    "Beta",
    "Binomial",
    "CatTransform",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ComposeTransform",
    "ContinuousBernoulli",
    "CumulativeDistributionTransform",
    "Dirichlet",
    "Distribution",
    "ExpTransform",
    "ExponentialFamily",
    "Exponential",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "IndependentTransform",
    "InverseGamma",
    "Kumaraswamy",
    "Laplace",
    "LowerCholeskyTransform",
    "LogNormal",
    "LowRankMultivariateNormal",
    "LogisticNormal",
    "MixtureSameFamily",
    "Multinomial",
    "NegativeBinomial",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "Poisson",
    "PowerTransform",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "StudentT",
    "TanhTransform",
    "Transform",
    "TransformedDistribution",
    "Uniform",
    "VonMises",
    "Weibull",
    "biject_to",
    "constraint_registry",
    "constraints",
    "identity_transform",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "transforms",
]
