"""``QuantizedEmbedding`` (``torch.ao.nn.quantized.Embedding``): an embedding table stored
as quint8 rows, each with its own float scale and zero point
(``per_channel_affine_float_qparams``: ``float_qparams_weight_only_qconfig``), looked up
as fbgemm's ``embedding_byte`` does: ``scale * q + bias`` fused, ``bias = -zero_point *
scale``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import kiln
from kiln.nn.module import Module


class EmbeddingPackedParams(Module):
    """The quantized table (PyTorch packs it; kiln keeps the quantized tensor under the
    same state_dict keys, ``dtype`` and ``_packed_weight``)."""

    _version = 1

    def __init__(self, num_embeddings, embedding_dim, dtype=kiln.quint8):
        super().__init__()
        self.dtype = dtype
        if dtype is not kiln.quint8:
            raise NotImplementedError(
                f"kiln's quantized embedding stores quint8 rows only, not {dtype}"
            )
        scales = kiln.ones(num_embeddings, dtype=kiln.float32)
        zero_points = kiln.zeros(num_embeddings, dtype=kiln.float32)
        weight = kiln.quantize_per_channel(
            kiln.zeros(num_embeddings, embedding_dim), scales, zero_points, 0, kiln.quint8
        )
        self.set_weight(weight)

    def set_weight(self, weight) -> None:
        if not (weight.is_quantized and weight.qscheme() is kiln.per_channel_affine_float_qparams):
            raise RuntimeError(
                "quantized embedding: the weight must be quantized per channel with float "
                "qparams (float_qparams_weight_only_qconfig)"
            )
        self._packed_weight = weight

    def _weight(self):
        return self._packed_weight

    def forward(self, x):
        return x

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = {"version": self._version}
        destination[prefix + "dtype"] = self.dtype
        destination[prefix + "_packed_weight"] = self._packed_weight
        return destination

    def _own_state_names(self) -> list[str]:
        return ["dtype", "_packed_weight"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        for name in self._own_state_names():
            if prefix + name not in state_dict:
                missing_keys.append(prefix + name)
        if prefix + "dtype" in state_dict:
            self.dtype = state_dict[prefix + "dtype"]
        if prefix + "_packed_weight" in state_dict:
            self.set_weight(state_dict[prefix + "_packed_weight"])

    def __repr__(self) -> str:
        return repr(self._weight())


class Embedding(Module):
    """A quantized embedding table (``QuantizedEmbedding``): integer indices in, float32
    rows out (no gradient: a quantized table is for inference)."""

    _version = 1

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        padding_idx=None,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        sparse=False,
        _weight=None,
        dtype=kiln.quint8,
    ):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.dtype = dtype
        self._packed_params = EmbeddingPackedParams(num_embeddings, embedding_dim, dtype)
        if _weight is not None:
            self._packed_params.set_weight(_weight)

    def forward(self, indices):
        weight = self.weight()
        index = indices.numpy() if isinstance(indices, kiln.Tensor) else np.asarray(indices)
        if index.dtype.kind not in "iu":
            raise RuntimeError(
                "quantized::embedding_byte: the indices must be an integer tensor, got "
                f"{index.dtype}"
            )
        if index.size and (index.min() < 0 or index.max() >= self.num_embeddings):
            raise IndexError(
                f"index out of range in self (indices must be in [0, {self.num_embeddings}))"
            )
        scale = weight._q_scales.astype(np.float32)[:, None]
        bias = (-(weight._q_zero_points.astype(np.float32)[:, None] * scale)).astype(np.float32)
        rows = weight._q_int[index].astype(np.float64)
        # fbgemm's fused multiply-add (exact in float64, then one rounding to float32)
        values = rows * scale[index].astype(np.float64) + bias[index].astype(np.float64)
        return kiln.from_numpy(values.astype(np.float32))

    def _get_name(self) -> str:
        return "QuantizedEmbedding"

    def extra_repr(self) -> str:
        return (
            f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
            f"dtype={self._packed_params.dtype}, qscheme={self.weight().qscheme()}"
        )

    def __repr__(self) -> str:  # (PyTorch's repr does not list _packed_params)
        return f"{self._get_name()}({self.extra_repr()})"

    def set_weight(self, w) -> None:
        self._packed_params.set_weight(w)

    def weight(self):
        return self._packed_params._weight()

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The quantized version of a float ``nn.Embedding`` with a float-qparams
        ``qconfig`` (``float_qparams_weight_only_qconfig``)."""
        if type(mod) is not kiln.nn.Embedding:
            raise AssertionError(
                f"nnq.{cls.__name__}.from_float only works for {kiln.nn.Embedding.__name__}"
            )
        if not hasattr(mod, "qconfig"):
            raise AssertionError("Embedding input float module must have qconfig defined")
        from kiln.ao.nn.quantized.dynamic.modules.linear import quantize_weight
        from kiln.ao.quantization.qconfig import float_qparams_weight_only_qconfig

        if mod.qconfig is not None and mod.qconfig.weight is not None:
            weight_observer = mod.qconfig.weight()
        else:
            weight_observer = float_qparams_weight_only_qconfig.weight()
        dtype = weight_observer.dtype
        if weight_observer.qscheme is not kiln.per_channel_affine_float_qparams:
            raise AssertionError(
                "Embedding quantization is only supported with float_qparams_weight_only_qconfig."
            )
        if dtype is not kiln.quint8:
            raise AssertionError(
                f"The only supported dtype for nnq.Embedding is torch.quint8 in kiln, got {dtype}"
            )
        weight_observer(mod.weight)
        qweight = quantize_weight(mod.weight.float(), weight_observer)
        q = cls(mod.num_embeddings, mod.embedding_dim)
        q.set_weight(qweight)
        return q


class EmbeddingBag(Embedding):
    """A quantized embedding bag (``QuantizedEmbeddingBag``, mode ``"sum"``): the rows of
    each bag summed as fbgemm's ``embedding_bag_byte`` sums them (``out = fma(scale, q,
    out + bias)`` row after row, each scaled by its ``per_sample_weights`` entry)."""

    _version = 1

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        max_norm=None,
        norm_type=2.0,
        scale_grad_by_freq=False,
        mode="sum",
        sparse=False,
        _weight=None,
        include_last_offset=False,
        dtype=kiln.quint8,
    ):
        super().__init__(num_embeddings, embedding_dim, _weight=_weight, dtype=dtype)
        if mode != "sum":
            # (PyTorch 2.13's quantized EmbeddingBag passes mode 0 to its kernel whatever
            # the float module's mode: a "mean" bag comes out as the sum)
            raise NotImplementedError(
                f"quantized EmbeddingBag with mode={mode!r}: PyTorch's quantized kernel sums "
                "whatever the mode (its mean bags are sums); kiln refuses rather than give "
                "either result silently. Quantize a mode='sum' EmbeddingBag."
            )
        self.mode = mode
        self.pruned_weights = False
        self.include_last_offset = include_last_offset

    def _get_name(self) -> str:
        return "QuantizedEmbeddingBag"

    def forward(
        self, indices, offsets=None, per_sample_weights=None, compressed_indices_mapping=None
    ):
        if compressed_indices_mapping is not None:
            raise NotImplementedError("quantized EmbeddingBag: pruned tables are not supported")
        index = indices.numpy() if isinstance(indices, kiln.Tensor) else np.asarray(indices)
        weights = None if per_sample_weights is None else per_sample_weights.detach().numpy()
        if index.ndim == 2:
            if offsets is not None:
                raise ValueError("if input is 2D, then offsets has to be None")
            bags = [(i * index.shape[1], (i + 1) * index.shape[1]) for i in range(index.shape[0])]
            index = index.reshape(-1)
            weights = None if weights is None else weights.reshape(-1)
        elif index.ndim == 1:
            if offsets is None:
                raise ValueError("offsets has to be a 1D Tensor but got None")
            starts = [int(o) for o in offsets.numpy()]
            if not self.include_last_offset:
                starts.append(index.shape[0])
            bags = list(zip(starts[:-1], starts[1:]))
        else:
            raise ValueError(
                f"input has to be 1D or 2D Tensor, but got Tensor of dimension {index.ndim}"
            )
        if index.size and (index.min() < 0 or index.max() >= self.num_embeddings):
            raise IndexError(
                f"index out of range in self (indices must be in [0, {self.num_embeddings}))"
            )
        weight = self.weight()
        scale = weight._q_scales.astype(np.float32)
        bias = (-(weight._q_zero_points.astype(np.float32) * scale)).astype(np.float32)
        out = np.zeros((len(bags), self.embedding_dim), np.float32)
        for b, (start, end) in enumerate(bags):
            total = np.zeros(self.embedding_dim, np.float32)
            for position in range(start, end):
                row = index[position]
                s, c = scale[row], bias[row]
                if weights is not None:
                    s, c = np.float32(s * weights[position]), np.float32(c * weights[position])
                # fbgemm: fma(scale, q, out + bias), one rounding of the fused product-sum
                shifted = (total + c).astype(np.float32).astype(np.float64)
                total = (np.float64(s) * weight._q_int[row].astype(np.float64) + shifted).astype(
                    np.float32
                )
            out[b] = total
        return kiln.from_numpy(out)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The quantized version of a float ``nn.EmbeddingBag`` (mode ``"sum"``) with a
        float-qparams ``qconfig``."""
        if type(mod) is not kiln.nn.EmbeddingBag:
            raise AssertionError("nnq.EmbeddingBag.from_float only works for EmbeddingBag")
        if not hasattr(mod, "qconfig"):
            raise AssertionError("EmbeddingBag input float module must have qconfig defined")
        from kiln.ao.nn.quantized.dynamic.modules.linear import quantize_weight
        from kiln.ao.quantization.qconfig import float_qparams_weight_only_qconfig

        if mod.qconfig is not None and mod.qconfig.weight is not None:
            weight_observer = mod.qconfig.weight()
        else:
            weight_observer = float_qparams_weight_only_qconfig.weight()
        if weight_observer.qscheme is not kiln.per_channel_affine_float_qparams:
            raise AssertionError(
                "EmbeddingBag quantization is only supported with "
                "float_qparams_weight_only_qconfig."
            )
        if weight_observer.dtype is not kiln.quint8:
            raise AssertionError(
                "The only supported dtype for nnq.EmbeddingBag is torch.quint8 in kiln, got "
                f"{weight_observer.dtype}"
            )
        weight_observer(mod.weight)
        qweight = quantize_weight(mod.weight.float(), weight_observer)
        q = cls(
            mod.num_embeddings,
            mod.embedding_dim,
            max_norm=mod.max_norm,
            norm_type=mod.norm_type,
            scale_grad_by_freq=mod.scale_grad_by_freq,
            mode=mod.mode,
            sparse=mod.sparse,
            include_last_offset=mod.include_last_offset,
        )
        q.set_weight(qweight)
        return q
