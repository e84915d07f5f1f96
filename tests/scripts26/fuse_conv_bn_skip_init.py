# Inference-time recipes: torch.nn.utils.fusion.fuse_conv_bn_eval and fuse_linear_bn_eval
# (the "Fusing Convolution and Batch Norm" tutorial's result: one conv whose output equals
# conv -> bn in eval mode), the fused weights checked against the formula, and
# torch.nn.utils.skip_init ("Skipping Module Parameter Initialization") followed by an
# explicit init.
import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

torch.set_default_dtype(torch.float64)

conv = nn.Conv2d(2, 3, 3, padding=1)
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    conv.weight.copy_(torch.linspace(-1, 1, conv.weight.numel()).view_as(conv.weight))
    conv.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    bn.weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
    bn.bias.copy_(torch.tensor([0.0, 0.3, 0.7]))
    bn.running_mean.copy_(torch.tensor([0.2, -0.1, 0.4]))
    bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.0]))
conv.eval()
bn.eval()
x = torch.linspace(-2, 2, 2 * 2 * 5 * 5).view(2, 2, 5, 5)
fused = fuse_conv_bn_eval(conv, bn)
print("fused type:", type(fused).__name__, fused.weight.shape, fused.bias.shape)
print("fused equal:", torch.allclose(fused(x), bn(conv(x))))
scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
print("weight formula:", torch.allclose(fused.weight, conv.weight * scale.view(-1, 1, 1, 1)))
print("bias:", fused.bias)
print("original untouched:", conv.bias)

lin = nn.Linear(4, 3)
bn1 = nn.BatchNorm1d(3)
with torch.no_grad():
    lin.weight.copy_(torch.arange(12.0).view(3, 4) / 10)
    lin.bias.fill_(0.5)
    bn1.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
    bn1.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
lin.eval()
bn1.eval()
fl = fuse_linear_bn_eval(lin, bn1)
xl = torch.linspace(0, 1, 8).view(2, 4)
print("linear fused:", fl(xl))
print("linear equal:", torch.allclose(fl(xl), bn1(lin(xl))))

m = nn.utils.skip_init(nn.Linear, 5, 2)
print("skip_init shapes:", m.weight.shape, m.bias.shape, m.weight.dtype)
nn.init.constant_(m.weight, 0.25)
nn.init.zeros_(m.bias)
print("after init:", m(torch.ones(1, 5)))
c = nn.utils.skip_init(nn.Conv1d, 3, 4, kernel_size=2, bias=False)
print("skip_init conv:", c.weight.shape, c.bias)
