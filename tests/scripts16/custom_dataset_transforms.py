# "Writing Custom Datasets, DataLoaders and Transforms": a landmarks-style Dataset returning
# dict samples, callable transform classes (Rescale via F.interpolate, a crop, ToTensor)
# chained with a Compose, DataLoader batching dicts with default_collate, a custom
# collate_fn padding variable-length sequences (pad_sequence, lengths), drop_last,
# SequentialSampler / BatchSampler, random_split sizes, and an IterableDataset.
import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    random_split,
)
from torch.utils.data.dataloader import default_collate

rng = np.random.default_rng(13)


class FaceLandmarksDataset(Dataset):
    """Face Landmarks dataset (synthetic images + landmark points)."""

    def __init__(self, n, transform=None):
        self.images = [rng.uniform(0, 1, (10 + i % 3, 12, 3)).astype(np.float32) for i in range(n)]
        self.landmarks = [rng.uniform(0, 10, (4, 2)).astype(np.float32) for _ in range(n)]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        if torch.is_tensor(idx):
            idx = idx.tolist()
        image = self.images[idx]
        landmarks = self.landmarks[idx]
        sample = {"image": image, "landmarks": landmarks}
        if self.transform:
            sample = self.transform(sample)
        return sample


class ToTensor:
    """Convert ndarrays in sample to Tensors."""

    def __call__(self, sample):
        image, landmarks = sample["image"], sample["landmarks"]
        # swap color axis because
        # numpy image: H x W x C
        # torch image: C x H x W
        image = image.transpose((2, 0, 1))
        return {"image": torch.from_numpy(image), "landmarks": torch.from_numpy(landmarks)}


class Rescale:
    def __init__(self, output_size):
        assert isinstance(output_size, (int, tuple))
        self.output_size = output_size

    def __call__(self, sample):
        image, landmarks = sample["image"], sample["landmarks"]
        h, w = image.shape[-2:]
        new_h, new_w = self.output_size
        img = F.interpolate(
            image.unsqueeze(0), size=(new_h, new_w), mode="bilinear", align_corners=False
        ).squeeze(0)
        landmarks = landmarks * torch.tensor([new_w / w, new_h / h])
        return {"image": img, "landmarks": landmarks}


class CenterCrop:
    def __init__(self, output_size):
        self.output_size = (output_size, output_size)

    def __call__(self, sample):
        image, landmarks = sample["image"], sample["landmarks"]
        h, w = image.shape[-2:]
        new_h, new_w = self.output_size
        top, left = (h - new_h) // 2, (w - new_w) // 2
        image = image[:, top : top + new_h, left : left + new_w]
        landmarks = landmarks - torch.tensor([left, top])
        return {"image": image, "landmarks": landmarks}


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, sample):
        for t in self.transforms:
            sample = t(sample)
        return sample


raw = FaceLandmarksDataset(6)
print(
    "raw sample:", raw[1]["image"].shape, raw[1]["landmarks"].shape, type(raw[1]["image"]).__name__
)
transformed_dataset = FaceLandmarksDataset(
    6, transform=Compose([ToTensor(), Rescale((8, 8)), CenterCrop(6)])
)
for i, sample in enumerate(transformed_dataset):
    print(i, sample["image"].size(), sample["landmarks"].size())
    if i == 2:
        break
s = transformed_dataset[torch.tensor(4)]
print(
    "tensor index:", round(s["image"].sum().item(), 4), s["landmarks"][0].numpy().round(4).tolist()
)

dataloader = DataLoader(transformed_dataset, batch_size=4, shuffle=False, num_workers=0)
for i_batch, sample_batched in enumerate(dataloader):
    print("batch", i_batch, sample_batched["image"].size(), sample_batched["landmarks"].size())
print(
    "drop_last:",
    len(DataLoader(transformed_dataset, batch_size=4, drop_last=True)),
    len(dataloader),
)
print(
    "default_collate:",
    default_collate([(1, torch.zeros(2)), (2, torch.ones(2))])[0].tolist(),
    default_collate([{"a": 1.5}, {"a": 2.5}])["a"].dtype,
)
print(
    "default_collate numpy:",
    default_collate([np.zeros(2), np.ones(2)]).dtype,
    default_collate(["x", "y"]),
)


class SeqDataset(Dataset):
    def __init__(self):
        self.seqs = [torch.arange(1, n + 1) for n in (3, 1, 4, 2, 5)]

    def __len__(self):
        return len(self.seqs)

    def __getitem__(self, i):
        return self.seqs[i], i % 2


def collate_batch(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=0)
    return padded, lengths, torch.tensor(labels)


for padded, lengths, labels in DataLoader(SeqDataset(), batch_size=2, collate_fn=collate_batch):
    print("padded:", padded.tolist(), lengths.tolist(), labels.tolist())
print(
    "batch sampler:", list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
)
loader = DataLoader(
    SeqDataset(),
    batch_sampler=BatchSampler(SequentialSampler(range(5)), 2, True),
    collate_fn=collate_batch,
)
print("with batch_sampler:", [b[1].tolist() for b in loader])
train_set, val_set = random_split(range(10), [7, 3], generator=torch.Generator().manual_seed(42))
print(
    "random_split sizes:",
    len(train_set),
    len(val_set),
    sorted(list(train_set) + list(val_set)) == list(range(10)),
)
print("fractions:", [len(s) for s in random_split(range(10), [0.5, 0.3, 0.2])])


class CountDataset(IterableDataset):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))


print("iterable:", [b.tolist() for b in DataLoader(CountDataset(3, 10), batch_size=3)])
