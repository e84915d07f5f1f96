# How libraries keep checkpoints compatible: register_buffer(persistent=False) buffers
# missing from state_dict, get_extra_state / set_extra_state, a _version class attribute
# with _load_from_state_dict renaming an old key (the metadata path), and the public
# state-dict hooks (register_state_dict_pre_hook, register_load_state_dict_post_hook,
# register_load_state_dict_pre_hook on a submodule).
import io

import torch
from torch import nn


class Scaler(nn.Module):
    _version = 2

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5, -0.5]))
        self.register_buffer("running", torch.zeros(2))
        self.register_buffer("cache", torch.ones(2), persistent=False)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.scale + self.running

    def get_extra_state(self):
        return {"calls": self.calls}

    def set_extra_state(self, state):
        self.calls = state["calls"]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            old = prefix + "weight"
            if old in state_dict:
                state_dict[prefix + "scale"] = state_dict.pop(old)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


model = nn.Sequential(nn.Linear(2, 2), Scaler())
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    model[0].bias.fill_(0.25)
model(torch.ones(1, 2))
model(torch.ones(1, 2))
sd = model.state_dict()
print("keys:", list(sd.keys()))
print("extra:", sd["1._extra_state"])
print("metadata versions:", sd._metadata[""].get("version"), sd._metadata["1"]["version"])

buf = io.BytesIO()
torch.save(sd, buf)
buf.seek(0)
loaded = torch.load(buf, weights_only=False)
fresh = nn.Sequential(nn.Linear(2, 2), Scaler())
res = fresh.load_state_dict(loaded)
print("reloaded:", res.missing_keys, res.unexpected_keys, fresh[1].calls)
print("cache kept:", fresh[1].cache)

# an "old" checkpoint: version 1 with the parameter called weight
old = {k.replace("1.scale", "1.weight"): v for k, v in sd.items() if k != "1._extra_state"}
old_sd = type(sd)(old)
old_sd._metadata = {"": {"version": 1}, "0": {"version": 1}, "1": {"version": 1}}
older = nn.Sequential(nn.Linear(2, 2), Scaler())
res = older.load_state_dict(old_sd, strict=False)
print("old scale:", older[1].scale.data, "missing:", res.missing_keys)

# hooks
seen = []
h1 = model.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: seen.append(("pre", prefix)))


def post(module, incompatible_keys):
    seen.append(("post", len(incompatible_keys.missing_keys)))


h2 = model.register_load_state_dict_post_hook(post)


def sub_pre(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
    seen.append(("sub pre", prefix))


h3 = model[1].register_load_state_dict_pre_hook(sub_pre)
model.state_dict()
model.load_state_dict(sd)
for e in seen:
    print("hook:", *e)
for h in (h1, h2, h3):
    h.remove()
seen.clear()
model.state_dict()
print("after remove:", seen)
