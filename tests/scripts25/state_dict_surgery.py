# State-dict surgery as fine-tuning and checkpoint-conversion code does it:
# load_state_dict(strict=False) and its missing / unexpected keys, stripping the
# "module." prefix of a DataParallel checkpoint, a size-mismatch error, persistent=False
# buffers, keep_vars, loading a backbone into a bigger model, filtering keys, renaming
# keys, and parameters vs buffers in state_dict().
import collections

import torch
from torch import nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.register_buffer("scale", torch.tensor(2.0))
        self.register_buffer("cache", torch.zeros(3), persistent=False)


class Classifier(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(2, classes)


torch.manual_seed(0)
src = Classifier(10)
sd = src.state_dict()
print("keys:", list(sd))
print("ordered:", type(sd).__name__, isinstance(sd, collections.OrderedDict))
print("non-persistent absent:", "backbone.cache" in sd, [n for n, _ in src.named_buffers()])
dst = Classifier(5)
try:
    dst.load_state_dict(sd)
except RuntimeError as e:
    msg = str(e)
    print(
        "mismatch:",
        "size mismatch for head.weight" in msg,
        "torch.Size([10, 2])" in msg or "Size([10, 2])" in msg,
    )
filtered = {k: v for k, v in sd.items() if not k.startswith("head.")}
result = dst.load_state_dict(filtered, strict=False)
print("strict=False:", result.missing_keys, result.unexpected_keys)
print(result)
print("backbone copied:", torch.equal(dst.backbone.conv.weight, src.backbone.conv.weight))
wrapped = {"module." + k: v for k, v in sd.items()}
stripped = {k.removeprefix("module."): v for k, v in wrapped.items()}
print("prefix strip:", Classifier(10).load_state_dict(stripped))
extra = dict(sd, **{"extra.weight": torch.zeros(1)})
r = Classifier(10).load_state_dict(extra, strict=False)
print("unexpected:", r.unexpected_keys, r.missing_keys)
try:
    Classifier(10).load_state_dict(extra)
except RuntimeError as e:
    print("strict error:", 'Unexpected key(s) in state_dict: "extra.weight"' in str(e))
kv = src.state_dict(keep_vars=True)
print(
    "keep_vars:",
    type(kv["head.weight"]).__name__,
    kv["head.weight"].requires_grad,
    sd["head.weight"].requires_grad,
)
print("prefix:", list(src.backbone.state_dict(prefix="bb."))[:2])
backbone_only = src.backbone.state_dict()
print("submodule keys:", list(backbone_only))
renamed = collections.OrderedDict(
    (k.replace("conv", "features"), v) for k, v in backbone_only.items()
)
print("renamed:", list(renamed)[:2])
print("buffers in sd:", sd["backbone.scale"], sd["backbone.bn.num_batches_tracked"])
print(
    "param count:",
    sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k),
)
dst.backbone.load_state_dict(backbone_only)
print("sub load ok:", torch.equal(dst.backbone.bn.running_var, src.backbone.bn.running_var))
with torch.no_grad():
    sd["head.bias"].fill_(7.0)
print("state_dict tensors alias params:", src.head.bias[0].item())
sd2 = src.state_dict()
sd2["head.bias"] = torch.zeros(10)
print("replacing entry does not:", src.head.bias[0].item())
print("assign load:", Classifier(10).load_state_dict(src.state_dict(), assign=True))
