# "Knowledge Distillation Tutorial": a deeper teacher and a light student trained with
# cross-entropy, then the student trained with soft targets (softmax / log_softmax with a
# temperature T, the KL term scaled by T**2), nn.KLDivLoss(reduction="batchmean"), and the
# cosine-loss variant on hidden representations (nn.CosineEmbeddingLoss, avg_pool1d).
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(5)
device = "cpu"


def set_weights(model, scale):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-scale, scale, tuple(p.shape)).astype(np.float32)))
    return model


class DeepNN(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, num_classes)
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


class LightNN(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, num_classes)
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


images = torch.from_numpy(rng.standard_normal((32, 3, 8, 8)).astype(np.float32))
labels = torch.from_numpy(
    (images[:, 0].mean((1, 2)).numpy() > 0).astype(np.int64)
    + 2 * (images[:, 1].mean((1, 2)).numpy() > 0)
)
train_loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=False)
test_loader = DataLoader(TensorDataset(images[:16], labels[:16]), batch_size=8, shuffle=False)


def train(model, train_loader, epochs, learning_rate, device):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    for epoch in range(epochs):
        running_loss = 0.0
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        print(f"Epoch {epoch + 1}/{epochs}, Loss: {running_loss / len(train_loader):.4f}")


def test(model, test_loader, device):
    model.to(device)
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, labels in test_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    accuracy = 100 * correct / total
    print(f"Test Accuracy: {accuracy:.2f}%")
    return accuracy


nn_deep = set_weights(DeepNN(num_classes=4).to(device), 0.2)
train(nn_deep, train_loader, epochs=2, learning_rate=0.001, device=device)
test_accuracy_deep = test(nn_deep, test_loader, device)
nn_light = set_weights(LightNN(num_classes=4).to(device), 0.2)
new_nn_light = LightNN(num_classes=4).to(device)
new_nn_light.load_state_dict(nn_light.state_dict())
print("Norm of 1st layer of nn_light:", torch.norm(nn_light.features[0].weight).item())
print("Norm of 1st layer of new_nn_light:", torch.norm(new_nn_light.features[0].weight).item())
total_params_deep = f"{sum(p.numel() for p in nn_deep.parameters()):,}"
print(f"DeepNN parameters: {total_params_deep}")
total_params_light = f"{sum(p.numel() for p in nn_light.parameters()):,}"
print(f"LightNN parameters: {total_params_light}")
train(nn_light, train_loader, epochs=2, learning_rate=0.001, device=device)
test_accuracy_light_ce = test(nn_light, test_loader, device)


def train_knowledge_distillation(
    teacher,
    student,
    train_loader,
    epochs,
    learning_rate,
    T,
    soft_target_loss_weight,
    ce_loss_weight,
    device,
):
    ce_loss = nn.CrossEntropyLoss()
    optimizer = optim.Adam(student.parameters(), lr=learning_rate)

    teacher.eval()  # Teacher set to evaluation mode
    student.train()  # Student to train mode

    for epoch in range(epochs):
        running_loss = 0.0
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            with torch.no_grad():
                teacher_logits = teacher(inputs)
            student_logits = student(inputs)
            soft_targets = nn.functional.softmax(teacher_logits / T, dim=-1)
            soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
            soft_targets_loss = (
                torch.sum(soft_targets * (soft_targets.log() - soft_prob))
                / soft_prob.size()[0]
                * (T**2)
            )
            label_loss = ce_loss(student_logits, labels)
            loss = soft_target_loss_weight * soft_targets_loss + ce_loss_weight * label_loss
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        print(f"KD Epoch {epoch + 1}/{epochs}, Loss: {running_loss / len(train_loader):.4f}")


train_knowledge_distillation(
    teacher=nn_deep,
    student=new_nn_light,
    train_loader=train_loader,
    epochs=2,
    learning_rate=0.001,
    T=2,
    soft_target_loss_weight=0.25,
    ce_loss_weight=0.75,
    device=device,
)
test_accuracy_light_ce_and_kd = test(new_nn_light, test_loader, device)
print(f"Teacher accuracy: {test_accuracy_deep:.2f}%")
print(f"Student accuracy without teacher: {test_accuracy_light_ce:.2f}%")
print(f"Student accuracy with CE + KD: {test_accuracy_light_ce_and_kd:.2f}%")

# the same soft-target term with nn.KLDivLoss
with torch.no_grad():
    t_logits, s_logits = nn_deep(images[:8]), new_nn_light(images[:8])
T = 2
kl = (
    nn.KLDivLoss(reduction="batchmean")(
        F.log_softmax(s_logits / T, dim=-1), F.softmax(t_logits / T, dim=-1)
    )
    * T**2
)
manual = (
    torch.sum(
        F.softmax(t_logits / T, -1)
        * (F.softmax(t_logits / T, -1).log() - F.log_softmax(s_logits / T, -1))
    )
    / 8
    * T**2
)
print("KLDivLoss batchmean:", round(kl.item(), 6), "manual:", round(manual.item(), 6))
kl_log_target = F.kl_div(
    F.log_softmax(s_logits, -1), F.log_softmax(t_logits, -1), reduction="sum", log_target=True
)
print("kl_div log_target:", round(kl_log_target.item(), 6))


# cosine loss on flattened, pooled hidden representations
class ModifiedLightNNCosine(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, num_classes))

    def forward(self, x):
        x = self.features(x)
        flattened_conv_output = torch.flatten(x, 1)
        x = self.classifier(flattened_conv_output)
        flattened_conv_output_after_pooling = torch.nn.functional.avg_pool1d(
            flattened_conv_output, 2
        )
        return x, flattened_conv_output_after_pooling


student = set_weights(ModifiedLightNNCosine(), 0.2)
cosine_loss = nn.CosineEmbeddingLoss()
logits, hidden = student(images[:8])
with torch.no_grad():
    teacher_hidden = torch.flatten(nn_deep.features(images[:8]), 1)
    teacher_hidden = F.avg_pool1d(teacher_hidden, 4)
print("hidden shapes:", list(hidden.shape), list(teacher_hidden.shape))
loss = cosine_loss(hidden, teacher_hidden, target=torch.ones(hidden.size(0)))
loss.backward()
print(
    "cosine loss:",
    round(loss.item(), 6),
    "grad norm:",
    round(student.features[0].weight.grad.norm().item(), 6),
)
