# Object-detection utilities written in plain torch as detection tutorials do (instead of
# torchvision.ops): box format conversion, pairwise IoU with broadcasting and clamp(min=0),
# greedy non-maximum suppression with a while loop over sorted scores, sigmoid focal loss
# (binary_cross_entropy_with_logits reduction="none"), GIoU loss, anchor generation with
# meshgrid, and the smooth L1 box regression loss with beta.
import torch
import torch.nn.functional as F


def box_cxcywh_to_xyxy(x):
    x_c, y_c, w, h = x.unbind(-1)
    return torch.stack([x_c - 0.5 * w, y_c - 0.5 * h, x_c + 0.5 * w, y_c + 0.5 * h], dim=-1)


def box_area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1, boxes2):
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union, union


def generalized_box_iou(boxes1, boxes2):
    iou, union = box_iou(boxes1, boxes2)
    lt = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[:, :, 0] * wh[:, :, 1]
    return iou - (area - union) / area


def nms(boxes, scores, iou_threshold):
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i.item())
        if order.numel() == 1:
            break
        ious, _ = box_iou(boxes[i].unsqueeze(0), boxes[order[1:]])
        order = order[1:][ious[0] <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long)


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).mean(1).sum()


cxcywh = torch.tensor(
    [
        [5.0, 5.0, 4.0, 4.0],
        [5.5, 5.0, 4.0, 4.0],
        [12.0, 12.0, 2.0, 6.0],
        [5.0, 5.5, 3.0, 3.0],
        [12.5, 12.0, 2.0, 6.0],
    ]
)
boxes = box_cxcywh_to_xyxy(cxcywh)
scores = torch.tensor([0.9, 0.75, 0.6, 0.8, 0.3])
iou, _ = box_iou(boxes, boxes)
print("iou:", iou.numpy().round(5).tolist())
print("giou diag:", torch.diagonal(generalized_box_iou(boxes, boxes)).tolist())
print("nms 0.5:", nms(boxes, scores, 0.5).tolist(), "nms 0.3:", nms(boxes, scores, 0.3).tolist())
pred = boxes.clone().requires_grad_(True)
target = boxes.roll(1, 0)
giou_loss = (1 - torch.diag(generalized_box_iou(pred, target))).mean()
giou_loss.backward()
print("giou loss:", round(giou_loss.item(), 6), pred.grad[0].numpy().round(5).tolist())
logits = torch.linspace(-3, 3, 15).reshape(5, 3).requires_grad_(True)
onehot = F.one_hot(torch.tensor([0, 2, 1, 1, 0]), 3).float()
fl = sigmoid_focal_loss(logits, onehot)
fl.backward()
print("focal:", round(fl.item(), 6), logits.grad.sum(0).numpy().round(5).tolist())
shifts_x = torch.arange(0, 16, 8, dtype=torch.float32)
shifts_y = torch.arange(0, 16, 8, dtype=torch.float32)
shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
shifts = torch.stack(
    (shift_x.reshape(-1), shift_y.reshape(-1), shift_x.reshape(-1), shift_y.reshape(-1)), dim=1
)
base = torch.tensor([[-2.0, -2.0, 2.0, 2.0], [-4.0, -2.0, 4.0, 2.0]])
anchors = (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4)
print("anchors:", list(anchors.shape), anchors[-1].tolist())
matched_iou, matched_idx = box_iou(anchors, boxes)[0].max(dim=1)
print("matches:", matched_idx.tolist(), matched_iou.numpy().round(4).tolist())
print(
    "smooth l1 beta:",
    round(F.smooth_l1_loss(anchors[:5], boxes, beta=1.0 / 9).item(), 5),
    round(F.huber_loss(anchors[:5], boxes, delta=0.5).item(), 5),
)
