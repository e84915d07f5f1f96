# ruff: noqa: E501  (one probe per line: a table of short calls)
# The tensor math functions of the torch / torch.special docs that numerical code reaches
# for, each on the same small inputs: expit / logit / erfinv / Bessel / ndtr / gamma-family
# special functions, rounding with decimals, sgn, lerp / addcmul, copysign / hypot /
# logaddexp2 / float_power, fmod vs remainder and floor / trunc division of negatives,
# bitwise ops and shifts, gcd / lcm, clamp with tensor bounds, cumulative ops, renorm,
# heaviside / isin, block_diag / vander, unique(dim=), tensordot / multi_dot / addmm /
# baddbmm, nan-aware reductions, Tensor.apply_ / map_ and in-place triu_.
import numpy as np
import torch

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))
p = torch.from_numpy(rng.random((3, 4)).astype(np.float32))


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__, str(e)[:80])


show("special expit", lambda: torch.special.expit(x[0]))
show("special logit eps", lambda: torch.special.logit(p[0], eps=1e-3))
show("erfinv", lambda: torch.special.erfinv(p[0] * 2 - 1))
show("i0", lambda: torch.special.i0(x[0]))
show("i1e", lambda: torch.special.i1e(x[0]))
show("ndtr", lambda: torch.special.ndtr(x[0]))
show("ndtri", lambda: torch.special.ndtri(p[0]))
show("log_ndtr", lambda: torch.special.log_ndtr(x[0]))
show("multigammaln", lambda: torch.special.multigammaln(p[0] + 2, 2))
show("sinc", lambda: torch.special.sinc(x[0]))
show("entr", lambda: torch.special.entr(p[0]))
show("xlogy", lambda: torch.special.xlogy(p[0], p[1]))
show("xlog1py", lambda: torch.special.xlog1py(p[0], p[1]))
show("polygamma", lambda: torch.special.polygamma(1, p[0] + 1))
show("digamma", lambda: torch.digamma(p[0] + 0.5))
show("lgamma", lambda: torch.lgamma(x[0]))
show("zeta", lambda: torch.special.zeta(p[0] + 2, torch.tensor(1.0)))
show("gammaln", lambda: torch.special.gammaln(p[0] + 1))
show("log_softmax special", lambda: torch.special.log_softmax(x[0], 0))
show("round decimals", lambda: torch.round(x[0] * 100, decimals=-1))
show("frac trunc fix", lambda: (x[0].frac(), x[0].trunc(), x[0].fix()))
show("sgn", lambda: torch.sgn(torch.tensor([3 + 4j, 0j])))
show("lerp tensor", lambda: torch.lerp(x[0], x[1], p[0]))
show("addcmul", lambda: torch.addcmul(x[0], x[1], x[2], value=0.5))
show("logit", lambda: p[0].logit(eps=0.01))
show("nan_to_num_", lambda: torch.tensor([float("nan"), 1.0]).nan_to_num_(2.0))
show("copysign", lambda: torch.copysign(x[0], -1))
show("hypot", lambda: torch.hypot(x[0], x[1]))
show("logaddexp2", lambda: torch.logaddexp2(x[0], x[1]))
show("float_power", lambda: torch.float_power(p[0], 2))
show(
    "fmod/remainder neg",
    lambda: (
        torch.fmod(torch.tensor([-3.0, 3.0]), 2),
        torch.remainder(torch.tensor([-3.0, 3.0]), 2),
    ),
)
show("floor_divide neg", lambda: torch.floor_divide(torch.tensor([-7, 7]), 2))
show("div trunc", lambda: torch.div(torch.tensor([-7, 7]), 2, rounding_mode="trunc"))
show(
    "bitwise",
    lambda: (
        torch.tensor([5]) & 3,
        torch.tensor([5]) | 2,
        torch.tensor([5]) ^ 1,
        ~torch.tensor([5]),
        torch.tensor([1]) << 3,
        torch.tensor([-16]) >> 2,
    ),
)
show(
    "gcd lcm",
    lambda: (
        torch.gcd(torch.tensor([12, 18]), torch.tensor([8, 27])),
        torch.lcm(torch.tensor([4]), torch.tensor([6])),
    ),
)
show("clamp tensor", lambda: torch.clamp(x[0], min=x[1], max=x[1] + 1))
show("diff n2", lambda: torch.diff(x, n=2, dim=1))
show("cummin", lambda: torch.cummin(x[0], 0))
show("logcumsumexp", lambda: torch.logcumsumexp(x[0], 0))
show("renorm", lambda: torch.renorm(x, 2, 0, 1.0))
show("atan2", lambda: torch.atan2(x[0], x[1]))
show("signbit", lambda: torch.signbit(torch.tensor([-0.0, 0.0, -1.0])))
show("heaviside", lambda: torch.heaviside(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.5])))
show("isin", lambda: torch.isin(torch.tensor([1, 2, 3]), torch.tensor([2, 5])))
show("rad2deg", lambda: torch.rad2deg(torch.tensor([3.14159265])))
show("trapz", lambda: torch.trapz(x[0]))
show("cross", lambda: torch.linalg.cross(x[:, :3], x[:, 1:]))
show("vander inc", lambda: torch.vander(torch.tensor([1, 2, 3]), N=3, increasing=True))
show("block_diag", lambda: torch.block_diag(torch.ones(1, 2), torch.tensor([[3]])))
show("cdist p0", lambda: torch.cdist(x[:2], x[1:], p=0))
show("bernoulli p0/1", lambda: torch.bernoulli(torch.tensor([0.0, 1.0])))
show("flatten params", lambda: torch.flatten(x, 0, 1).shape)
show("atleast_2d", lambda: torch.atleast_2d(torch.tensor(1.0)).shape)
show("rot90 k=-1", lambda: torch.rot90(torch.arange(4).view(2, 2), -1))
show("count_nonzero dims", lambda: torch.count_nonzero(x > 0, dim=(0, 1)))
show(
    "clone memory_format",
    lambda: torch.ones(1, 2, 2, 2).clone(memory_format=torch.channels_last).stride(),
)
show("tensor.apply_", lambda: torch.tensor([1.0, 2.0]).apply_(lambda v: v * 3))
show(
    "tensor.map_",
    lambda: torch.tensor([1.0, 2.0]).map_(torch.tensor([3.0, 4.0]), lambda a, b: a + b),
)
show("numpy force", lambda: torch.ones(2, requires_grad=True).numpy(force=True))
show("bf16 tolist", lambda: torch.tensor([0.1], dtype=torch.bfloat16).tolist())
show("storage_offset", lambda: torch.arange(10)[3:].storage_offset())
show("dim_order", lambda: torch.ones(2, 3, 4, 5).to(memory_format=torch.channels_last).dim_order())
show("resolve_conj", lambda: torch.tensor([1j]).conj().resolve_conj())
show("is_conj", lambda: torch.tensor([1j]).conj().is_conj())
show("cfloat", lambda: torch.tensor([1.0]).cfloat())
show(
    "char short byte",
    lambda: (
        torch.tensor([300.7]).short(),
        torch.tensor([-1.5]).char(),
        torch.tensor([3.9]).byte(),
    ),
)
show("real of real", lambda: torch.tensor([1.0]).real)
show("imag of real", lambda: torch.tensor([1.0]).imag)
show("angle", lambda: torch.tensor([-1.0, 1.0]).angle())
show("expand_as", lambda: torch.tensor([1, 2]).expand_as(torch.zeros(2, 2)))
show("sum_to_size", lambda: torch.ones(2, 3).sum_to_size(1, 3))
show(
    "unique dim",
    lambda: torch.unique(torch.tensor([[1, 2], [1, 2], [3, 4]]), dim=0, return_counts=True),
)
show("tensordot", lambda: torch.tensordot(x, x, dims=([1], [1])).shape)
show("chain_matmul", lambda: torch.linalg.multi_dot([x, x.T, x]).shape)
show("addmm beta", lambda: torch.addmm(torch.ones(3, 3), x, x.T, beta=0.5, alpha=2)[0])
show("baddbmm", lambda: torch.baddbmm(torch.zeros(1, 3, 3), x[None], x.T[None])[0, 0])
show("corrcoef 1d", lambda: torch.corrcoef(x[0]))
show("nanmean dim", lambda: torch.tensor([[1.0, float("nan")], [3.0, 4.0]]).nanmean(0))
show("var_mean correction", lambda: torch.var_mean(x, 1, correction=0))
show("aminmax keepdim", lambda: torch.aminmax(x, dim=1, keepdim=True).min.shape)
show(
    "argsort stable desc",
    lambda: torch.argsort(torch.tensor([1, 2, 1, 2]), stable=True, descending=True),
)
show("diag_embed", lambda: torch.diag_embed(torch.tensor([[1, 2]]), offset=1))
show("triu_ tril_", lambda: torch.ones(3, 3).triu_(1))
