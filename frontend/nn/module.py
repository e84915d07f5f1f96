"""``Module``: the base class of every layer, with PyTorch's registration and traversal API.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it; ``register_buffer``
registers state that is not learned (BatchNorm's running statistics). ``state_dict`` and
``load_state_dict`` copy values *in place* (``copy_`` under ``no_grad``), so a function
compiled by ``kiln.jit`` that captured the parameters sees the loaded values.

>>> import kiln
>>> class Affine(Module):
...     def __init__(self):
...         super().__init__()
...         self.scale = Parameter(kiln.ones(2))
...     def forward(self, x):
...         return x * self.scale
>>> [name for name, _ in Affine().named_parameters()]
['scale']
"""

from __future__ import annotations

import functools
from collections import OrderedDict, namedtuple
from types import MappingProxyType

import kiln
from kiln import dtypes
from kiln.tensor import Tensor
from kiln.utils.hooks import RemovableHandle

from .parameter import Buffer, Parameter


# PyTorch's name (``print(model.load_state_dict(sd, strict=False))`` shows it)
class _IncompatibleKeys(namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


IncompatibleKeys = _IncompatibleKeys

# The structure epoch: bumped by every change to any module's attributes, registries
# (parameters, buffers, submodules) or hooks. A compiled function whose guards passed at
# epoch E needs no module check while the epoch is still E: steady-state training changes
# no module structure, so checking every module of a model costs one integer compare.
_EPOCH = [0]


def structure_epoch() -> int:
    """The current structure epoch (see ``_EPOCH``)."""
    return _EPOCH[0]


def _bump() -> None:
    _EPOCH[0] += 1


class _Registry(OrderedDict):
    """A module's registry (``_parameters``, ``_modules``, hooks...): every change bumps the
    structure epoch, whoever makes it (``Module``, the containers, user code)."""

    __slots__ = ()

    def __setitem__(self, key, value):
        _bump()
        OrderedDict.__setitem__(self, key, value)

    def __delitem__(self, key):
        _bump()
        OrderedDict.__delitem__(self, key)

    def pop(self, *args):
        _bump()
        return OrderedDict.pop(self, *args)

    def popitem(self, last=True):
        _bump()
        return OrderedDict.popitem(self, last)

    def clear(self):
        _bump()
        OrderedDict.clear(self)

    def update(self, *args, **kwargs):
        _bump()
        OrderedDict.update(self, *args, **kwargs)

    def setdefault(self, key, default=None):
        _bump()
        return OrderedDict.setdefault(self, key, default)

    def move_to_end(self, key, last=True):
        _bump()
        OrderedDict.move_to_end(self, key, last)


def _hook_kind(module, full: bool) -> None:
    """A module takes either full or legacy backward hooks, never both (as PyTorch)."""
    kind = module.__dict__.get("_is_full_backward_hook")
    if kind is not None and kind != full and module.__dict__.get("_backward_hooks"):
        raise RuntimeError(
            "Cannot use both regular backward hooks and full backward hooks on a single "
            "Module. Please use only one of them."
        )
    object.__setattr__(module, "_is_full_backward_hook", full)


class _WithKwargs:
    """A forward hook registered with ``with_kwargs`` or ``always_call``."""

    __slots__ = ("fn", "with_kwargs", "always_call")

    def __init__(self, fn, with_kwargs: bool, always_call: bool):
        self.fn = fn
        self.with_kwargs = with_kwargs
        self.always_call = always_call

    def call(self, module, args, kwargs, out):
        if self.with_kwargs:
            return self.fn(module, args, kwargs, out)
        return self.fn(module, args, out)


def _add_hook(module, table: str, hook, prepend: bool) -> RemovableHandle:
    hooks = module.__dict__.get(table)
    if hooks is None:  # a module pickled before this table existed
        hooks = _Registry()
        object.__setattr__(module, table, hooks)
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


# hooks every module runs (torch.nn.modules.module.register_module_forward_hook and
# friends), before the module's own, as PyTorch
_global_forward_pre_hooks = _Registry()
_global_forward_hooks = _Registry()
_global_backward_pre_hooks = _Registry()
_global_backward_hooks = _Registry()


def _add_global_hook(hooks, hook) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, args)`` before the forward of every module (before the module's
    own pre-hooks); a non-None result replaces args."""
    return _add_global_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(
    hook, *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """``hook(module, args, output)`` after the forward of every module (before the
    module's own hooks); a non-None result replaces the output."""
    if with_kwargs or always_call:
        hook = _WithKwargs(hook, with_kwargs, always_call)
    return _add_global_hook(_global_forward_hooks, hook)


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, grad_output)`` before the backward of every module."""
    return _add_global_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` after the backward of every module."""
    return _add_global_hook(_global_backward_hooks, hook)


def _post_order(module, seen=None):
    seen = set() if seen is None else seen
    for child in module._modules.values():
        if child is not None and id(child) not in seen:
            seen.add(id(child))
            yield from _post_order(child, seen)
    yield module


def _run_load_pre_hooks(root, state_dict, strict, errors):
    """A copy of ``state_dict`` after every module's load-state-dict pre hooks (outermost
    first, as PyTorch), or ``state_dict`` itself when no module has one."""
    hooked = [
        (prefix, module)
        for prefix, module in root.named_modules()
        if module.__dict__.get("_load_state_dict_pre_hooks")
    ]
    if not hooked:
        return state_dict
    state_dict = OrderedDict(state_dict)
    for prefix, module in hooked:
        base = prefix + "." if prefix else ""
        for hook in list(module._load_state_dict_pre_hooks.values()):
            hook(state_dict, base, {}, strict, [], [], errors)
    return state_dict


class _BackwardHookState:
    """One call of a module with backward hooks: its inputs and outputs pass through
    identity Functions whose backwards see ``grad_output`` and then ``grad_input``."""

    def __init__(self, module):
        self.module = module
        self.n_inputs = 0
        self.input_positions = ()
        self.inputs_need_grad = False
        self.grad_outputs = None

    def wrap_inputs(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(positions)
        self.input_positions = positions
        self.inputs_need_grad = any(args[i].requires_grad for i in positions)
        if not self.inputs_need_grad:
            return args
        wrapped = _BackwardHookIn.apply(self, *(args[i] for i in positions))
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        args = list(args)
        for i, w in zip(positions, wrapped):
            args[i] = w
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple) or not all(isinstance(o, Tensor) for o in outs):
            return out
        if not any(o.requires_grad for o in outs):
            return out
        wrapped = _BackwardHookOut.apply(self, *outs)
        return wrapped if single or isinstance(wrapped, tuple) else (wrapped,)

    def on_grad_outputs(self, grads):
        hooks = [*_global_backward_pre_hooks.values(), *self.module._backward_pre_hooks.values()]
        for hook in hooks:
            result = hook(self.module, grads)
            if result is not None:
                grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        self.grad_outputs = grads
        if not self.inputs_need_grad:  # no input gradient will come: report now
            self.on_grad_inputs((None,) * max(self.n_inputs, 1))
        return grads

    def on_grad_inputs(self, grads):
        for hook in [*_global_backward_hooks.values(), *self.module._backward_hooks.values()]:
            result = hook(self.module, grads, self.grad_outputs)
            if result is not None:
                grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return grads


class _BackwardHookIn(kiln.autograd.Function):
    @staticmethod
    def forward(ctx, state, *inputs):
        ctx.state = state
        ctx.set_materialize_grads(False)
        return inputs if len(inputs) > 1 else inputs[0]

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.state.on_grad_inputs(grads))


class _BackwardHookOut(kiln.autograd.Function):
    @staticmethod
    def forward(ctx, state, *outputs):
        ctx.state = state
        ctx.set_materialize_grads(False)
        return outputs if len(outputs) > 1 else outputs[0]

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.state.on_grad_outputs(grads))


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for all layers: subclass it, create parameters and submodules in
    ``__init__`` (after ``super().__init__()``) and define ``forward``."""

    training: bool
    _version: int = 1  # a subclass's state_dict layout version (its _load_from_state_dict)
    # read by ``__call__`` on modules unpickled from before backward hooks existed
    _backward_hooks = _backward_pre_hooks = MappingProxyType({})

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        setter = object.__setattr__
        setter(self, "training", True)
        setter(self, "_parameters", _Registry())
        setter(self, "_buffers", _Registry())
        setter(self, "_non_persistent_buffers_set", set())
        setter(self, "_modules", _Registry())
        setter(self, "_forward_hooks", _Registry())
        setter(self, "_forward_pre_hooks", _Registry())
        setter(self, "_backward_hooks", _Registry())
        setter(self, "_backward_pre_hooks", _Registry())

    # -------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def compile(self, *args, **kwargs) -> None:
        """Compile this module's ``forward`` in place with ``kiln.compile`` (the arguments
        are ``kiln.compile``'s); unlike ``kiln.compile(module)`` the module keeps its type
        and its ``state_dict`` keys. As PyTorch's ``Module.compile``: the module's own
        hooks still run on every call (here eagerly, around the compiled forward)."""
        from ..jit.torch_compile import compile as compile_

        compiled = compile_(_Forward(self), *args, **kwargs)
        object.__setattr__(self, "_compiled_call_impl", compiled)
        object.__setattr__(self, "_compile_arguments", (args, kwargs))

    def __getstate__(self):
        # a compiled forward holds locks and kernels: a copy (deepcopy, pickle) compiles
        # its own again
        state = dict(self.__dict__)
        state.pop("_compiled_call_impl", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "_compile_arguments" in state:
            args, kwargs = state["_compile_arguments"]
            self.compile(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self._call_impl(*args, **kwargs)

    def _call_impl(self, *args, **kwargs):
        for hook in [*_global_forward_pre_hooks.values(), *self._forward_pre_hooks.values()]:
            if isinstance(hook, _WithKwargs):
                result = hook.fn(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        state = None
        if (
            self._backward_hooks
            or self._backward_pre_hooks
            or _global_backward_hooks
            or _global_backward_pre_hooks
        ) and kiln.is_grad_enabled():
            state = _BackwardHookState(self)
            args = state.wrap_inputs(args)
        try:
            compiled = self.__dict__.get("_compiled_call_impl")
            if compiled is not None:
                out = compiled(*args, **kwargs)
            else:
                out = self.forward(*args, **kwargs)
        except Exception:
            for hook in [*_global_forward_hooks.values(), *self._forward_hooks.values()]:
                if isinstance(hook, _WithKwargs) and hook.always_call:
                    hook.call(self, args, kwargs, None)
            raise
        for hook in [*_global_forward_hooks.values(), *self._forward_hooks.values()]:
            if isinstance(hook, _WithKwargs):
                result = hook.call(self, args, kwargs, out)
            else:
                result = hook(self, args, out)
            if result is not None:
                out = result
        if state is not None:
            out = state.wrap_outputs(out)
        return out

    def register_forward_hook(
        self, hook, *, prepend: bool = False, with_kwargs: bool = False, always_call=False
    ) -> RemovableHandle:
        """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``) after every forward; a non-None result replaces the output.
        ``always_call``: also called (with output ``None``) when forward raises."""
        if with_kwargs or always_call:
            hook = _WithKwargs(hook, with_kwargs, always_call)
        return _add_hook(self, "_forward_hooks", hook, prepend)

    def register_forward_pre_hook(
        self, hook, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args)`` before every forward; a non-None result replaces args
        (with ``with_kwargs``: ``hook(module, args, kwargs)`` returns ``(args, kwargs)``)."""
        if with_kwargs:
            hook = _WithKwargs(hook, True, False)
        return _add_hook(self, "_forward_pre_hooks", hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once the gradients w.r.t. the module's
        tensor inputs are computed; a non-None result replaces ``grad_input``."""
        _hook_kind(self, full=True)
        return _add_hook(self, "_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` before the module's backward; a non-None result
        replaces ``grad_output``."""
        return _add_hook(self, "_backward_pre_hooks", hook, prepend)

    def register_backward_hook(self, hook) -> RemovableHandle:
        """The legacy hook: kiln gives it the full hook's arguments (the gradients w.r.t. the
        module's inputs and outputs), which is what the old hook was meant to report and
        what PyTorch's gives for a module made of one operation."""
        _hook_kind(self, full=False)
        return _add_hook(self, "_backward_hooks", hook, False)

    # -------------------------------------------------------------- registration
    def _check_initialized(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    def register_parameter(self, name: str, param) -> None:
        """Add ``param`` (a ``Parameter`` or ``None``) under ``name``."""
        self._check_initialized("parameter")
        _check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_type_name(param)}' object to parameter "
                f"'{name}' (torch.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (saved in ``state_dict`` unless
        ``persistent=False``)."""
        self._check_initialized("buffer")
        _check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_type_name(tensor)}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a submodule (or ``None``) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_type_name(module)} is not a Module subclass")
        _check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        _bump()
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._check_initialized("parameters")
            self._forget(name, keep="_parameters")  # (a replaced entry keeps its place)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._check_initialized("module")
            self._forget(name, keep="_modules")
            self._modules[name] = value
        elif self.__dict__.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as child module "
                    f"'{name}' (torch.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif isinstance(value, Buffer):
            self._check_initialized("buffer")
            self._forget(name, keep="_buffers")
            self.register_buffer(name, value, value.persistent)
        elif self.__dict__.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_type_name(value)}' as buffer '{name}' "
                    "(torch.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str | None = None) -> None:
        """Drop ``name`` from the instance dict and the registries other than ``keep`` (as
        PyTorch: re-assigning a parameter, buffer or submodule keeps its position)."""
        self.__dict__.pop(name, None)
        for table in ("_parameters", "_buffers", "_modules"):
            if table != keep:
                self.__dict__[table].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            entries = d.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        _bump()
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[table]:
                del self.__dict__[table][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``'' `` is ``self``)."""
        module = self
        for item in target.split(".") if target else []:
            if not hasattr(module, item) or not isinstance(getattr(module, item), Module):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
        return module

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (with ``strict``, only in place of an
        existing submodule)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{module._get_name()} has no parameter `{name}`")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._buffers:
            raise AttributeError(f"{module._get_name()} has no buffer `{name}`")
        return module._buffers[name]

    # -------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """``(dotted name, module)`` for ``self`` and every submodule, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ):
        """``(dotted name, Parameter)`` pairs; a parameter shared by two modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' gradients (``None``, or zeros with ``set_to_none=False``)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None  # assigned even when already None: a trace records it
            elif param.grad is not None:
                param.grad = param.grad.detach()
                param.grad.zero_()

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every submodule (children first) and on ``self``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -------------------------------------------------------------- dtype and device
    def _apply(self, fn) -> Module:
        """Replace every parameter's and buffer's storage by ``fn(tensor)``, keeping the
        ``Parameter`` objects (an optimizer holding them stays valid)."""
        for module in self.children():
            module._apply(fn)
        with kiln.no_grad():
            for param in self._parameters.values():
                if param is None:
                    continue
                param.data = fn(param.detach())
                if param.grad is not None:
                    param.grad = fn(param.grad.detach())
            for buffer in self._buffers.values():
                if buffer is not None:  # same object, new storage: jit sees the change
                    buffer.data = fn(buffer.detach())
        return self

    def share_memory(self) -> Module:
        """Move the parameters, their gradients and the buffers into memory shared with
        processes forked from this one (PyTorch's; see ``kiln.multiprocessing``)."""
        return self._apply(lambda t: t.share_memory_())

    def to(self, *args, **kwargs) -> Module:
        """``to(dtype)``, ``to(device)``, ``to(tensor)``: floating point parameters and
        buffers take the dtype; everything moves to the device. ``memory_format=``
        (``channels_last``...) applies to the 4-D and 5-D ones, as in PyTorch."""
        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        memory_format = kwargs.get("memory_format")
        for arg in args:
            if isinstance(arg, dtypes.dtype):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            else:
                device = arg
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}"
            )

        def convert(t):
            if device is not None:
                t = t.to(device)
            if dtype is not None and t.dtype.is_floating_point:
                t = t.to(dtype)
            if memory_format is not None and t.dim() in (4, 5):
                t = t.to(memory_format=memory_format)
            return t

        return self._apply(convert)

    def to_empty(self, *, device, recurse: bool = True) -> Module:
        """Give every parameter and buffer fresh (uninitialised) storage on ``device``,
        keeping the objects: how a model built on ``meta`` gets memory."""
        return self._apply(lambda t: kiln.empty_like(t, device=device))

    def cuda(self, device=None) -> Module:
        return self._apply(lambda t: t.cuda(device))

    def cpu(self) -> Module:
        return self._apply(lambda t: t.cpu())

    def type(self, dst_type) -> Module:
        return self._apply(lambda t: t.to(dst_type))

    def float(self) -> Module:
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self) -> Module:
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self) -> Module:
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self) -> Module:
        return self._apply(lambda t: t.to(kiln.bfloat16) if t.is_floating_point() else t)

    # -------------------------------------------------------------- state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ``OrderedDict`` of parameters and persistent buffers by dotted name
        (detached unless ``keep_vars``)."""
        if args:  # PyTorch's deprecated positional form (destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if hasattr(destination, "_metadata"):  # each module's version, for _load_from_state_dict
            destination._metadata[prefix[:-1]] = {"version": self._version}
        for hook in list(self.__dict__.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + "_extra_state"] = self.get_extra_state()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in list(self.__dict__.get("_state_dict_hooks", {}).values()):
            result = hook(self, destination, prefix, {"version": self._version})
            if result is not None:
                if getattr(hook, "_kiln_public", False):
                    raise RuntimeError("state_dict post-hook must return None")
                destination = result
        return destination

    def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` before ``state_dict`` collects this module's
        entries."""
        return _add_hook(self, "_state_dict_pre_hooks", hook, False)

    def register_state_dict_post_hook(self, hook) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict`` has
        collected this module's entries; it may change ``state_dict`` in place and must
        return None."""

        def public(*args):
            return hook(*args)

        public._kiln_public = True
        return _add_hook(self, "_state_dict_hooks", public, False)

    def _register_state_dict_hook(self, hook) -> RemovableHandle:
        """As ``register_state_dict_post_hook``, but a non-None result replaces the
        state dict (PyTorch's private form)."""
        return _add_hook(self, "_state_dict_hooks", hook, False)

    def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` after ``load_state_dict`` has loaded this
        module; it may edit ``incompatible_keys.missing_keys`` / ``unexpected_keys`` in
        place before ``strict`` checks them."""
        return _add_hook(self, "_load_state_dict_post_hooks", hook, False)

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """``hook(state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` runs before ``load_state_dict`` reads this module's
        keys and may rename or convert them (in a copy of the caller's dict)."""
        if with_module:
            hook = functools.partial(hook, self)
        return _add_hook(self, "_load_state_dict_pre_hooks", hook, False)

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)``, as ``_register_load_state_dict_pre_hook``."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy ``state_dict``'s values into the parameters and buffers, in place.

        Returns ``(missing_keys, unexpected_keys)``; with ``strict`` either is an error, and
        a shape mismatch always is (PyTorch's messages).
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        errors = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = _run_load_pre_hooks(self, state_dict, strict, errors)
        # each module loads its own entries from a copy, which an overridden
        # _load_from_state_dict may rename or convert (old checkpoint versions)
        state_dict = OrderedDict(state_dict)
        own, missing = set(), []
        for prefix, module in self.named_modules():
            base = prefix + "." if prefix else ""
            local = dict(metadata.get(prefix, {}) if metadata is not None else {})
            local["assign_to_params_buffers"] = assign  # (where PyTorch passes it)
            own.update(base + name for name in module._own_state_names())
            module._load_from_state_dict(state_dict, base, local, True, missing, [], errors)
        unexpected = [key for key in state_dict if key not in own]
        keys = IncompatibleKeys(missing, unexpected)
        for module in _post_order(self):  # children before their parent, as PyTorch
            for hook in list(module.__dict__.get("_load_state_dict_post_hooks", {}).values()):
                if hook(module, keys) is not None:
                    raise RuntimeError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are "
                        "not expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace."
                    )
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected)
                    ),
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing)
                    ),
                )
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(errors)
                )
            )
        return IncompatibleKeys(missing, unexpected)

    def _own_state_names(self) -> list[str]:
        """The names of this module's own state_dict entries (not its children's)."""
        names = [n for n, p in self._parameters.items() if p is not None]
        names += [
            n
            for n, b in self._buffers.items()
            if b is not None and n not in self._non_persistent_buffers_set
        ]
        if type(self).set_extra_state is not Module.set_extra_state:
            names.append("_extra_state")
        return names

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        """Copy this module's own entries ``prefix + name`` of ``state_dict`` (PyTorch's
        hook for subclasses that convert old checkpoints, ``local_metadata["version"]``);
        absent keys go to ``missing_keys``, problems to ``error_msgs``."""
        assign = local_metadata.get("assign_to_params_buffers", False)
        tables = [(n, p, "_parameters") for n, p in self._parameters.items() if p is not None]
        tables += [
            (n, b, "_buffers")
            for n, b in self._buffers.items()
            if b is not None and n not in self._non_persistent_buffers_set
        ]
        for name, current, table in tables:
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected '
                    f"torch.Tensor or Tensor-like object from checkpoint but "
                    f"received {type(value)}"
                )
                continue
            if tuple(value.shape) != tuple(current.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{value.shape} from checkpoint, the shape in current model "
                    f"is {current.shape}."
                )
                continue
            with kiln.no_grad():
                if assign:
                    new = (
                        value
                        if table == "_buffers" or isinstance(value, Parameter)
                        else Parameter(value, current.requires_grad)
                    )
                    getattr(self, table)[name] = new
                else:
                    current.copy_(value)
        if type(self).set_extra_state is not Module.set_extra_state:
            key = prefix + "_extra_state"
            if key in state_dict:
                self.set_extra_state(state_dict[key])
            else:
                missing_keys.append(key)

    def get_extra_state(self):
        """Extra (picklable) state for ``state_dict``: override with ``set_extra_state``."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def set_extra_state(self, state) -> None:
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    # -------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The text inside ``Name(...)`` (override in layers: ``in_features=3, ...``)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _check_name(name, what: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{what} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{what} name can\'t be empty string ""')


def _type_name(value) -> str:
    return kiln.typename(value)


class _Forward(Module):
    """``module.forward`` as a module of its own (no hooks): what ``Module.compile``
    compiles, with ``module``'s parameters and buffers as its own."""

    def __init__(self, module: Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module.forward(*args, **kwargs)
