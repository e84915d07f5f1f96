"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their single-step ``Cell``s.

Parameter names, shapes, gate order and initialisation are PyTorch's (``weight_ih_l0``,
``weight_hh_l0_reverse``, ...; LSTM gates ``i, f, g, o``, GRU gates ``r, z, n``), so a
PyTorch state dict loads and gives the same outputs. The input projection of a whole
sequence is one matmul; the recurrence is a Python loop over time steps of kiln ops, so
under ``kiln.jit`` each step's gate math is traced and fused like any elementwise chain.
A ``PackedSequence`` runs on its padded form with a per-step mask: a finished sequence
keeps its last state (which is also what the reverse direction starts from) and gets
zero outputs.

>>> import kiln
>>> lstm = LSTM(4, 3, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(kiln.ones(2, 5, 4))
>>> out.shape, h.shape, c.shape
(kiln.Size([2, 5, 3]), kiln.Size([2, 2, 3]), kiln.Size([2, 2, 3]))
"""

from __future__ import annotations

import math
import warnings

import kiln
from kiln import ops

from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, pad_packed_sequence

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(mode, gx, h, w_hh, b_hh):
    """One step of a plain RNN; ``gx`` is the input's projection (bias included)."""
    pre = gx + F.linear(h, w_hh, b_hh)
    return ops.tanh(pre) if mode == "RNN_TANH" else ops.relu(pre)


def _lstm_step(gx, h, c, w_hh, b_hh, w_hr=None):
    gates = gx + F.linear(h, w_hh, b_hh)
    i, f, g, o = ops.chunk(gates, 4, -1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gx, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    xr, xz, xn = ops.chunk(gx, 3, -1)
    hr, hz, hn = ops.chunk(gh, 3, -1)
    r = ops.sigmoid(xr + hr)
    z = ops.sigmoid(xz + hz)
    n = ops.tanh(xn + r * hn)
    return (1 - z) * n + z * h


class RNNBase(Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (PyTorch's base class)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        for name, value, kind in (
            ("bias", bias, bool),
            ("batch_first", batch_first, bool),
            ("input_size", input_size, int),
            ("hidden_size", hidden_size, int),
        ):  # (PyTorch's checks and order)
            if not isinstance(value, kind):
                raise TypeError(
                    f"{name} should be of type {kind.__name__}, got: {type(value).__name__}"
                )
            if kind is int and value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be greater than zero, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                UserWarning,
                stacklevel=2,
            )
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [
                    (f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                    (f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)),
                ]
                if bias:
                    shapes += [
                        (f"bias_ih_l{layer}{suffix}", (gate_size,)),
                        (f"bias_hh_l{layer}{suffix}", (gate_size,)),
                    ]
                if proj_size > 0:
                    shapes.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    empty = kiln.empty(*shape, dtype=dtype, device=device)
                    setattr(self, name, Parameter(empty))
                self._flat_weights_names.extend(name for name, _ in shapes)
                self._all_weights.append([name for name, _ in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """cuDNN's weight layout: nothing to do in kiln."""

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ------------------------------------------------------------------ forward
    def _weights(self, layer: int, direction: int):
        suffix = "_reverse" if direction == 1 else ""
        get = self.__dict__["_parameters"].get
        return (
            get(f"weight_ih_l{layer}{suffix}"),
            get(f"weight_hh_l{layer}{suffix}"),
            get(f"bias_ih_l{layer}{suffix}"),
            get(f"bias_hh_l{layer}{suffix}"),
            get(f"weight_hr_l{layer}{suffix}"),
        )

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            like = input
            input, lengths = pad_packed_sequence(input)  # (T, B, *), original batch order
            lengths = [int(n) for n in lengths.tolist()]
            batched, batch_first = True, False
        else:
            batched, batch_first = input.ndim == 3, self.batch_first
            if input.ndim not in (2, 3):
                raise ValueError(
                    f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                    f"{input.ndim}D instead"
                )
            if not batched:
                input = input.unsqueeze(1)
            elif batch_first:
                input = input.transpose(0, 1)
        weight_dtype = self._flat_weights[0].dtype
        autocast = kiln.is_autocast_enabled("cpu") or kiln.is_autocast_enabled("cuda")
        if input.dtype != weight_dtype and not autocast:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                f"Convert input: input.to({weight_dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.shape[-1]}"
            )
        steps, batch = input.shape[0], input.shape[1]
        directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        h0, c0 = self._initial_state(hx, batched, batch, directions, real_hidden, input.dtype)
        masks = None
        if lengths is not None:
            rows = kiln.tensor(lengths).reshape(1, batch, 1)
            steps_col = kiln.arange(steps).reshape(steps, 1, 1)
            masks = ops.unbind(steps_col < rows, 0)
        layer_input = input
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                out, h, c = self._run_direction(
                    layer_input,
                    layer,
                    direction,
                    h0[k],
                    None if c0 is None else c0[k],
                    masks,
                )
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outs[0] if directions == 1 else ops.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        h_n = ops.stack(h_n, 0)
        c_n = ops.stack(c_n, 0) if c0 is not None else None
        if packed:
            output = _repack(output, like)
        elif not batched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif batch_first:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if self.mode == "LSTM" else h_n)

    def _initial_state(self, hx, batched, batch, directions, real_hidden, dtype):
        n = self.num_layers * directions
        expect_h = (n, batch, real_hidden) if batched else (n, real_hidden)
        expect_c = (n, batch, self.hidden_size) if batched else (n, self.hidden_size)
        if hx is None:
            h0 = kiln.zeros(*expect_h, dtype=dtype)
            c0 = kiln.zeros(*expect_c, dtype=dtype) if self.mode == "LSTM" else None
        elif self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
            _check_state("h_0", h0, expect_h)
            _check_state("c_0", c0, expect_c)
        else:
            h0, c0 = hx, None
            _check_state("hx", h0, expect_h)
        if not batched:
            h0 = h0.unsqueeze(1)
            c0 = c0.unsqueeze(1) if c0 is not None else None
        return ops.unbind(h0, 0), (ops.unbind(c0, 0) if c0 is not None else None)

    def _run_direction(self, x, layer, direction, h, c, masks):
        w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
        gx_all = ops.unbind(F.linear(x, w_ih, b_ih), 0)  # one matmul for every step
        order = range(len(gx_all) - 1, -1, -1) if direction == 1 else range(len(gx_all))
        outputs = [None] * len(gx_all)
        for t in order:
            gx = gx_all[t]
            if self.mode == "LSTM":
                h_new, c_new = _lstm_step(gx, h, c, w_hh, b_hh, w_hr)
            elif self.mode == "GRU":
                h_new, c_new = _gru_step(gx, h, w_hh, b_hh), None
            else:
                h_new, c_new = _rnn_step(self.mode, gx, h, w_hh, b_hh), None
            if masks is not None:
                m = masks[t]
                h = ops.where(m, h_new, h)
                c = ops.where(m, c_new, c) if c_new is not None else None
                outputs[t] = ops.where(m, h_new, ops.zeros_like(h_new))
            else:
                h, c = h_new, c_new
                outputs[t] = h_new
        return ops.stack(outputs, 0), h, c


def _check_state(name, t, expected) -> None:
    if tuple(t.shape) != tuple(expected):
        raise RuntimeError(
            f"Expected hidden size {tuple(expected)}, got {list(t.shape)} (for {name})"
        )


def _repack(padded, like: PackedSequence) -> PackedSequence:
    """Pack ``padded`` (time first, original batch order) with ``like``'s layout."""
    if like.sorted_indices is not None:
        padded = ops.index_select(padded, 1, like.sorted_indices)
    sizes = [int(b) for b in like.batch_sizes.tolist()]
    data = ops.cat([padded[t, :bs] for t, bs in enumerate(sizes)], 0)
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU)."""

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs):
        if len(args) > 3:  # PyTorch's positional order puts nonlinearity fourth
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(mode, *args, **kwargs)

    # (no extra_repr: PyTorch's RNN prints RNNBase's, without the nonlinearity)


class LSTM(RNNBase):
    """Long short-term memory; returns ``output, (h_n, c_n)``."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit."""

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


# ---------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

        def empty(*shape):
            return Parameter(kiln.empty(*shape, dtype=dtype, device=device))

        self.weight_ih = empty(num_chunks * hidden_size, input_size)
        self.weight_hh = empty(num_chunks * hidden_size, hidden_size)
        if bias:
            self.bias_ih = empty(num_chunks * hidden_size)
            self.bias_hh = empty(num_chunks * hidden_size)
        else:
            self.bias_ih = None
            self.bias_hh = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = self.__dict__.get("nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _prepare(self, input, hx):
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[-1]} expected "
                f"{self.input_size}"
            )
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            return input, None, batched
        lstm = isinstance(hx, (tuple, list))
        for i, state in enumerate(hx if lstm else (hx,)):  # (PyTorch's checks and messages)
            if state.ndim not in (1, 2):
                raise ValueError(
                    f"{type(self).__name__}: Expected {f'hx[{i}]' if lstm else 'hidden'} to be "
                    f"1D or 2D, got {state.ndim}D instead"
                )
            state = _batch(state, batched)
            if state.shape[0] != input.shape[0]:
                raise RuntimeError(
                    f"Input batch size {input.shape[0]} doesn't match hidden{i} batch size "
                    f"{state.shape[0]}"
                )
            if state.shape[-1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {state.shape[-1]}, expected "
                    f"{self.hidden_size}"
                )
        return input, hx, batched

    def _zeros(self, input):
        return kiln.zeros(input.shape[0], self.hidden_size, dtype=input.dtype)


def _unbatch(h, batched):
    return h if batched else h.squeeze(0)


def _batch(h, batched):
    return h if batched or h is None else h.unsqueeze(0)


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        h = self._zeros(input) if hx is None else _batch(hx, batched)
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        return _unbatch(_rnn_step(mode, gx, h, self.weight_hh, self.bias_hh), batched)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, **kwargs):
        super().__init__(input_size, hidden_size, bias, 4, **kwargs)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        if hx is None:
            h = c = self._zeros(input)
        else:
            h, c = (_batch(s, batched) for s in hx)
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        h, c = _lstm_step(gx, h, c, self.weight_hh, self.bias_hh)
        return _unbatch(h, batched), _unbatch(c, batched)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, **kwargs):
        super().__init__(input_size, hidden_size, bias, 3, **kwargs)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        h = self._zeros(input) if hx is None else _batch(hx, batched)
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        return _unbatch(_gru_step(gx, h, self.weight_hh, self.bias_hh), batched)
