"""``DynamicQuantizedLSTM`` / ``DynamicQuantizedGRU`` (``torch.ao.nn.quantized.dynamic.LSTM``
and ``GRU``): recurrent layers whose input-to-hidden and hidden-to-hidden weights are int8
and whose matrix products are the dynamic quantized linear kernel's.

As PyTorch's CPU implementation (ATen's ``FullLayer`` with ``QuantizedCellParamsDynamic``):
a layer's input projection is computed for the whole sequence at once (one input range
for all time steps); the hidden projection is quantized anew at every step; the gates are
float32.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import kiln
from kiln.nn import rnn as _float_rnn
from kiln.nn.module import Module

from ..kernels import linear_dynamic
from .linear import _check_engine, check_float_input, quantize_weight


class PackedParameter(Module):
    """One layer-direction's cell parameters: ``param`` is ``(weight_ih, weight_hh,
    bias_ih, bias_hh)`` (PyTorch packs them into a ``CellParamsBase`` script object; the
    state_dict key is the same, ``<prefix>param``)."""

    def __init__(self, param):
        super().__init__()
        self.param = param

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = {"version": self._version}
        destination[prefix + "param"] = self.param
        return destination

    def _own_state_names(self) -> list[str]:
        return ["param"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        if prefix + "param" in state_dict:
            self.param = tuple(state_dict[prefix + "param"])
        else:
            missing_keys.append(prefix + "param")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


def _gru_update(input_gates, hidden_gates, h) -> np.ndarray:
    """ATen's GRU cell: reset and update gates from the summed projections, the new gate
    from the input's plus the reset-scaled hidden's."""
    ir, iz, inew = np.split(input_gates, 3, axis=1)
    hr, hz, hnew = np.split(hidden_gates, 3, axis=1)
    reset = _sigmoid(hr + ir)
    update = _sigmoid(hz + iz)
    new = np.tanh(inew + hnew * reset)
    return ((h - new) * update + new).astype(np.float32)


def _stacked(arrays) -> kiln.Tensor:
    return kiln.from_numpy(np.stack(arrays).astype(np.float32))


class RNNBase(Module):
    """The shared structure of the dynamic quantized LSTM and GRU."""

    _FLOAT_MODULE = None

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=kiln.qint8,
    ):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.dtype = dtype
        self.version = 2
        self.training = False  # (as PyTorch's: a converted RNN starts in eval mode)
        self._all_weight_values = kiln.nn.ModuleList()

    def _get_name(self) -> str:
        return f"DynamicQuantized{self.mode}"

    proj_size = 0  # (refused at conversion: ``from_float``)
    extra_repr = _float_rnn.RNNBase.extra_repr  # (the float layer's, proj_size 0)

    def __repr__(self) -> str:  # (PyTorch's repr leaves out the packed parameters)
        return f"{self._get_name()}({self.extra_repr()})"

    # -------------------------------------------------------------- arithmetic
    def _linear(self, x: np.ndarray, weight, bias) -> np.ndarray:
        bias_values = None if bias is None else bias.detach().numpy()
        if self.dtype is kiln.float16:
            out = x @ weight.numpy().astype(np.float16).astype(np.float32).T
            return (out if bias_values is None else out + bias_values).astype(np.float32)
        if weight.qscheme() is kiln.per_tensor_affine:
            scale, zero = weight.q_scale(), weight.q_zero_point()
        else:
            scale = weight.q_per_channel_scales().numpy()
            zero = weight.q_per_channel_zero_points().numpy()
        return linear_dynamic(x, weight._q_int, scale, zero, bias_values, reduce_range=True)

    def _run_direction(self, inputs: np.ndarray, state, param, reverse: bool):
        weight_ih, weight_hh, bias_ih, bias_hh = param
        steps = range(inputs.shape[0] - 1, -1, -1) if reverse else range(inputs.shape[0])
        input_gates = self._linear(inputs, weight_ih, bias_ih)  # (the whole sequence at once)
        outputs = [None] * inputs.shape[0]
        for t in steps:
            state = self._cell(input_gates[t], state, weight_hh, bias_hh)
            outputs[t] = state[0]
        return np.stack(outputs), state

    def _forward(self, input, hx):
        _check_engine()
        if self.training and self.dropout and self.num_layers > 1:
            raise NotImplementedError(
                f"{self._get_name()}: dropout in training mode is not supported by kiln"
            )
        if not isinstance(input, kiln.Tensor) or input.ndim != 3:
            raise ValueError(
                f"{self._get_name()}: input must have 3 dimensions (kiln has no unbatched or "
                f"packed-sequence quantized RNN), got {getattr(input, 'ndim', type(input))}"
            )
        check_float_input(input)
        x = input.detach().numpy()
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        if x.shape[2] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {x.shape[2]}"
            )
        directions = 2 if self.bidirectional else 1
        expected = (self.num_layers * directions, x.shape[1], self.hidden_size)
        states = self._initial_states(hx, expected)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                param = self._all_weight_values[index].param
                out, final = self._run_direction(x, states[index], param, direction == 1)
                outputs.append(out)
                finals.append(final)
            x = np.concatenate(outputs, axis=2) if directions == 2 else outputs[0]
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        output = kiln.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(input.dtype)
        return output, finals

    def _initial_states(self, hx, expected):
        count = expected[0]
        zeros = np.zeros(expected[1:], dtype=np.float32)
        if hx is None:
            return [(zeros, zeros)] * count
        pair = hx if isinstance(hx, (tuple, list)) else (hx, None)
        arrays = []
        for name, h in zip(("hx", "cx"), pair):
            if h is None:
                arrays.append(None)
                continue
            if tuple(h.shape) != expected:
                raise RuntimeError(
                    f"Expected hidden size {expected}, got {list(h.shape)}"
                    if name == "hx"
                    else f"Expected hidden[1] size {expected}, got {list(h.shape)}"
                )
            arrays.append(h.detach().to(kiln.float32).numpy())
        h0, c0 = arrays
        return [(h0[i], None if c0 is None else c0[i]) for i in range(count)]

    # -------------------------------------------------------------- conversion
    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The dynamic quantized version of a float ``nn.LSTM``/``nn.GRU`` with a
        ``qconfig``: each weight observed by its own ``qconfig.weight()`` observer and
        quantized with its scale and zero point; biases stay float."""
        if type(mod) is not cls._FLOAT_MODULE:
            raise AssertionError(
                f"nn.quantized.dynamic.{cls.__name__}.from_float only works for nn.{cls.__name__}"
            )
        if not hasattr(mod, "qconfig"):
            raise AssertionError("Input float module must have qconfig defined")
        if mod.qconfig is not None and mod.qconfig.weight is not None:
            weight_observer_method = mod.qconfig.weight
        else:
            from kiln.ao.quantization.qconfig import default_dynamic_qconfig

            weight_observer_method = default_dynamic_qconfig.weight
        dtype = weight_observer_method().dtype
        if dtype not in (kiln.qint8, kiln.float16):
            raise RuntimeError(f"Unsupported dtype for dynamic RNN quantization: {dtype}")
        if getattr(mod, "proj_size", 0):
            raise NotImplementedError("kiln has no dynamic quantized LSTM with proj_size")
        if not mod.bias:
            raise AssertionError("mod.bias must be True")
        q = cls(
            mod.input_size,
            mod.hidden_size,
            mod.num_layers,
            mod.bias,
            mod.batch_first,
            mod.dropout,
            mod.bidirectional,
            dtype,
        )
        directions = 2 if mod.bidirectional else 1
        for layer in range(q.num_layers):
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                weights = []
                for kind in ("ih", "hh"):
                    w = getattr(mod, f"weight_{kind}_l{layer}{suffix}")
                    if dtype is kiln.qint8:
                        observer = weight_observer_method()
                        observer(w)
                        weights.append(quantize_weight(w.float(), observer))
                    else:
                        weights.append(w.detach().float())
                biases = [
                    getattr(mod, f"bias_{kind}_l{layer}{suffix}").detach().float()
                    for kind in ("ih", "hh")
                ]
                q._all_weight_values.append(PackedParameter((*weights, *biases)))
        return q


class LSTM(RNNBase):
    """A dynamic quantized LSTM (``DynamicQuantizedLSTM``); ``forward(input, (h0, c0))``
    returns ``output, (h_n, c_n)`` as ``nn.LSTM``."""

    _FLOAT_MODULE = kiln.nn.LSTM

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def _cell(self, input_gates, state, weight_hh, bias_hh, hidden_gates=None):
        h, c = state
        if hidden_gates is None:
            gates = self._linear(h, weight_hh, bias_hh) + input_gates
        else:  # (a cell: the caller summed both projections)
            gates = hidden_gates
        i, f, g, o = np.split(gates, 4, axis=1)
        i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
        c = (f * c + i * g).astype(np.float32)
        h = (o * np.tanh(c)).astype(np.float32)
        return h, c

    def forward(self, input, hx=None):
        output, finals = self._forward(input, hx)
        h_n, c_n = (_stacked([f[k] for f in finals]) for k in range(2))
        return output, (h_n, c_n)


class GRU(RNNBase):
    """A dynamic quantized GRU (``DynamicQuantizedGRU``); ``forward(input, h0)`` returns
    ``output, h_n`` as ``nn.GRU``."""

    _FLOAT_MODULE = kiln.nn.GRU

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)

    def _cell(self, input_gates, state, weight_hh, bias_hh):
        h = state[0]
        hidden_gates = self._linear(h, weight_hh, bias_hh)
        return _gru_update(input_gates, hidden_gates, h), None

    def forward(self, input, hx=None):
        if isinstance(hx, (tuple, list)):
            raise TypeError("DynamicQuantizedGRU: hx must be a tensor, not a tuple")
        output, finals = self._forward(input, hx)
        return output, _stacked([f[0] for f in finals])


class RNNCellBase(Module):
    """The shared structure of the dynamic quantized cells: ``_packed_weight_ih`` and
    ``_packed_weight_hh`` are ``(weight, bias)`` pairs (PyTorch's packed script objects,
    under the same state_dict keys); each call quantizes its input and hidden state anew."""

    _FLOAT_NAME = ""

    def __init__(self, input_size, hidden_size, bias=True, num_chunks=4, dtype=kiln.qint8):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_dtype = dtype
        # (PyTorch fills these with random numbers its kernel never reads: the packed
        # pairs carry the biases; kiln keeps the real ones here)
        self.bias_ih = self.bias_hh = None
        self._packed_weight_ih = self._packed_weight_hh = None

    def _get_name(self) -> str:
        return f"DynamicQuantized{self._FLOAT_NAME}"

    extra_repr = _float_rnn.RNNCellBase.extra_repr  # (the float cell's)

    def _linear(self, x: np.ndarray, packed) -> np.ndarray:
        weight, bias = packed
        return RNNBase._linear(self, x, weight, bias)

    @property
    def dtype(self):
        return self.weight_dtype

    def _inputs(self, input, hx, count: int):
        _check_engine()
        check_float_input(input)
        if input.ndim != 2 or input.shape[1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {tuple(input.shape)}, expected "
                f"(batch, {self.input_size})"
            )
        states = hx if isinstance(hx, (tuple, list)) else (hx,) * count if hx is None else (hx,)
        arrays = []
        for i, h in enumerate(states):
            if h is None:
                arrays.append(np.zeros((input.shape[0], self.hidden_size), np.float32))
                continue
            label = f"[{i}]" if count > 1 else ""
            if h.shape[0] != input.shape[0]:
                raise RuntimeError(
                    f"Input batch size {input.shape[0]} doesn't match hidden{label} batch "
                    f"size {h.shape[0]}"
                )
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{label} has inconsistent hidden_size: got {h.shape[1]}, "
                    f"expected {self.hidden_size}"
                )
            check_float_input(h)
            arrays.append(h.detach().numpy())
        return input.detach().numpy(), arrays

    # -------------------------------------------------------------- state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = {"version": self._version}
        destination[prefix + "_packed_weight_ih"] = self._packed_weight_ih
        destination[prefix + "_packed_weight_hh"] = self._packed_weight_hh
        return destination

    def _own_state_names(self) -> list[str]:
        return ["_packed_weight_ih", "_packed_weight_hh"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        for name in self._own_state_names():
            if prefix + name in state_dict:
                setattr(self, name, tuple(state_dict[prefix + name]))
            else:
                missing_keys.append(prefix + name)

    # -------------------------------------------------------------- conversion
    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The dynamic quantized version of a float cell with a ``qconfig`` (each weight
        observed and quantized on its own; biases stay float)."""
        if type(mod) is not getattr(kiln.nn, cls._FLOAT_NAME):
            raise AssertionError(
                "nn.quantized.dynamic.RNNCellBase.from_float only works for nn.LSTMCell, "
                "nn.GRUCell and nn.RNNCell"
            )
        if not hasattr(mod, "qconfig"):
            raise AssertionError("Input float module must have qconfig defined")
        if mod.qconfig is not None and mod.qconfig.weight is not None:
            weight_observer_method = mod.qconfig.weight
        else:
            from kiln.ao.quantization.qconfig import default_dynamic_qconfig

            weight_observer_method = default_dynamic_qconfig.weight
        dtype = weight_observer_method().dtype
        if dtype not in (kiln.qint8, kiln.float16):
            raise RuntimeError(f"Unsupported dtype for dynamic RNN quantization: {dtype}")
        kwargs = {"nonlinearity": mod.nonlinearity} if cls._FLOAT_NAME == "RNNCell" else {}
        q = cls(mod.input_size, mod.hidden_size, bias=mod.bias, dtype=dtype, **kwargs)
        if not mod.bias:
            raise AssertionError("mod.bias must be True")

        def observed(weight):
            if dtype is not kiln.qint8:
                return weight.detach().float()
            observer = weight_observer_method()
            observer(weight)
            return quantize_weight(weight.float(), observer)

        q.bias_ih = mod.bias_ih.detach().float()
        q.bias_hh = mod.bias_hh.detach().float()
        q._packed_weight_ih = (observed(mod.weight_ih), q.bias_ih)
        q._packed_weight_hh = (observed(mod.weight_hh), q.bias_hh)
        return q


class LSTMCell(RNNCellBase):
    """``DynamicQuantizedLSTMCell``: ``forward(input, (h, c))`` returns ``(h', c')``."""

    _FLOAT_NAME = "LSTMCell"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, num_chunks=4, **kwargs)

    def forward(self, input, hx=None):
        x, (h, c) = self._inputs(input, hx, 2)
        gates = self._linear(h, self._packed_weight_hh) + self._linear(x, self._packed_weight_ih)
        h, c = LSTM._cell(self, gates, (h, c), None, None, hidden_gates=gates)
        return kiln.from_numpy(h), kiln.from_numpy(c)


class GRUCell(RNNCellBase):
    """``DynamicQuantizedGRUCell``: ``forward(input, h)`` returns ``h'``."""

    _FLOAT_NAME = "GRUCell"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, num_chunks=3, **kwargs)

    def forward(self, input, hx=None):
        x, (h,) = self._inputs(input, hx, 1)
        input_gates = self._linear(x, self._packed_weight_ih)
        hidden_gates = self._linear(h, self._packed_weight_hh)
        return kiln.from_numpy(_gru_update(input_gates, hidden_gates, h))


class RNNCell(RNNCellBase):
    """``DynamicQuantizedRNNCell``: ``h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh)``."""

    _FLOAT_NAME = "RNNCell"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=kiln.qint8):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,) = self._inputs(input, hx, 1)
        pre = self._linear(h, self._packed_weight_hh) + self._linear(x, self._packed_weight_ih)
        if self.nonlinearity == "tanh":
            out = np.tanh(pre)
        elif self.nonlinearity == "relu":
            out = np.maximum(pre, np.float32(0))
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return kiln.from_numpy(out.astype(np.float32))
