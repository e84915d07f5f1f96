# The "Python Custom Operators" tutorial: torch.library.custom_op wrapping code PyTorch
# cannot see into (a NumPy crop here, in place of PIL), register_fake with new_empty and
# permute, register_autograd with a setup_context / backward pair, torch.library.opcheck,
# the operator used inside a model trained with autograd, a mutable operator
# (mutates_args={"output"}, device_types="cpu") writing through .numpy(), and calling it
# as torch.ops.mylib.<name>.
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


@torch.library.custom_op("mylib::crop", mutates_args=())
def crop(pic: Tensor, box: Sequence[int]) -> Tensor:
    x0, y0, x1, y1 = box
    # "opaque" code: NumPy instead of PIL; an image comes back height x width x channels,
    # and pil_to_tensor permutes it to channels-first (a strided view)
    hwc = np.ascontiguousarray(pic.detach().cpu().numpy()[:, y0:y1, x0:x1].transpose(1, 2, 0))
    return torch.from_numpy(hwc).permute(2, 0, 1).to(pic.dtype)


@crop.register_fake
def _(pic, box):
    channels = pic.shape[0]
    x0, y0, x1, y1 = box
    result = pic.new_empty(y1 - y0, x1 - x0, channels).permute(2, 0, 1)
    return result


def backward(ctx, grad_output):
    grad_input = grad_output.new_zeros(ctx.pic_shape)
    grad_input[..., ctx.y0 : ctx.y1, ctx.x0 : ctx.x1] = grad_output
    return grad_input, None


def setup_context(ctx, inputs, output):
    pic, box = inputs
    ctx.pic_shape = pic.shape
    ctx.x0, ctx.y0, ctx.x1, ctx.y1 = box


crop.register_autograd(backward, setup_context=setup_context)

img = torch.linspace(0, 1, 3 * 8 * 10).reshape(3, 8, 10).requires_grad_()
result = crop(img, (2, 1, 7, 5))
print("crop:", list(result.shape), result.requires_grad, round(result.sum().item(), 5))
result.sum().backward()
print("grad sum / nonzero:", img.grad.sum().item(), int((img.grad != 0).sum()))
print("opcheck:", sorted(torch.library.opcheck(crop, (img, (2, 1, 7, 5)))))
print("via torch.ops:", torch.equal(torch.ops.mylib.crop(img, (2, 1, 7, 5)), result))


class Cropper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3, 1, 1) * 0.5)

    def forward(self, x):
        return crop(x * self.weight, (0, 0, 4, 4)).mean(dim=(1, 2))


model = Cropper()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
target = torch.tensor([0.2, 0.4, 0.6])
for step in range(4):
    loss = ((model(img.detach()) - target) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(
        "step", step, round(loss.item(), 6), [round(v, 5) for v in model.weight.flatten().tolist()]
    )


@torch.library.custom_op("mylib::numpy_sin", mutates_args={"output"}, device_types="cpu")
def numpy_sin(input: Tensor, output: Tensor) -> None:
    assert input.device == output.device
    assert input.device.type == "cpu"
    input_np = input.numpy()
    output_np = output.numpy()
    np.sin(input_np, out=output_np)


x = torch.linspace(0, 3, 5)
out = torch.empty(5)
numpy_sin(x, out)
print("mutated output:", [round(v, 5) for v in out.tolist()], torch.allclose(out, x.sin()))
print("opcheck mutable:", torch.library.opcheck(numpy_sin, (x, torch.empty(5)))["test_schema"])
