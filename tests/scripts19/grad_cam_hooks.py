# Grad-CAM with module hooks as users write it: a forward hook saving the last conv
# layer's activations, register_full_backward_hook saving the gradient with respect to
# its output, channel weights from the spatially averaged gradients, ReLU of the weighted
# sum, F.interpolate(mode="bilinear") up to the input size, min-max normalisation; plus
# feature extraction of several layers with named_modules and a hook handle removed.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(6, 3)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x)
        return self.classifier(torch.flatten(x, 1))


model = SmallCNN()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.83 + i).reshape(p.shape)
            * 0.5
        )
model.eval()


class GradCAM:
    def __init__(self, model, target_layer):
        self.model = model
        self.activations = None
        self.gradients = None
        self.handles = [
            target_layer.register_forward_hook(self.save_activation),
            target_layer.register_full_backward_hook(self.save_gradient),
        ]

    def save_activation(self, module, input, output):
        self.activations = output.detach()

    def save_gradient(self, module, grad_input, grad_output):
        self.gradients = grad_output[0].detach()

    def __call__(self, x, class_idx=None):
        logits = self.model(x)
        if class_idx is None:
            class_idx = logits.argmax(dim=1).item()
        self.model.zero_grad()
        logits[0, class_idx].backward()
        weights = self.gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * self.activations).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
        cam = cam - cam.min()
        cam = cam / (cam.max() + 1e-8)
        return cam, class_idx

    def remove(self):
        for h in self.handles:
            h.remove()


image = torch.linspace(0, 1, 3 * 8 * 8).reshape(1, 3, 8, 8).sin()
cam_extractor = GradCAM(model, model.features[3])
cam, cls = cam_extractor(image.clone().requires_grad_(True))
print("class:", cls, "cam shape:", list(cam.shape))
print("cam row 0:", cam[0, 0, 0].detach().numpy().round(4).tolist())
print("cam stats:", round(cam.mean().item(), 5), round(cam.max().item(), 5))
cam2, _ = cam_extractor(image.clone().requires_grad_(True), class_idx=2)
print("cam class 2 sum:", round(cam2.sum().item(), 4))
print("gradient shape:", list(cam_extractor.gradients.shape))
cam_extractor.remove()
print("hooks left:", len(model.features[3]._forward_hooks), len(model.features[3]._backward_hooks))

features = {}


def get_features(name):
    def hook(model, input, output):
        features[name] = output.detach()

    return hook


handles = []
for name, module in model.named_modules():
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
        handles.append(module.register_forward_hook(get_features(name)))
with torch.no_grad():
    logits = model(image)
for name, feat in features.items():
    print("feature", name, list(feat.shape), round(feat.abs().sum().item(), 4))
for h in handles:
    h.remove()
features.clear()
model(image)
print("after removal:", len(features), "logits:", logits.numpy().round(5).tolist())
