"""Networks: STSTNet (reference layout) and F5CNet (ours, built around MOL's F5C block).

Both take the same input: [N,3,28,28] float32, BGR order of the flow PNG (strain, v, u), raw 0..255.
Both return logits [N,3] in the order negative, positive, surprise.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class STSTNet(nn.Module):
    """Shallow triple-stream 3D CNN (Liong et al. 2019) in the layout of the reference weights."""

    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=2)
        self.conv2 = nn.Conv2d(3, 5, 3, padding=2)
        self.conv3 = nn.Conv2d(3, 8, 3, padding=2)
        self.bn1 = nn.BatchNorm2d(3)
        self.bn2 = nn.BatchNorm2d(5)
        self.bn3 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, stride=3, padding=1)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(400, n_classes)

    def forward(self, x):
        a = self.pool(self.bn1(F.relu(self.conv1(x))))
        b = self.pool(self.bn2(F.relu(self.conv2(x))))
        c = self.pool(self.bn3(F.relu(self.conv3(x))))
        h = self.avg(torch.cat([a, b, c], 1))
        return self.fc(h.flatten(1))


# --------------------------------------------------------------------------------------------
# F5C block (MOL, TPAMI 2025): fully-connected convolution + channel correspondence convolution
# --------------------------------------------------------------------------------------------

def circular_conv_h(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Depthwise circular cross-correlation along H with a kernel spanning all of H.

    x [N,C,H,W], weight [C,1,H,1]: out[n,c,i,w] = sum_k weight[c,k] * x[n,c,(i+k) mod H, w].
    Circular padding by concatenation (exports to plain ONNX Concat/Slice).
    """
    h = x.shape[2]
    xp = torch.cat([x, x[:, :, : h - 1]], dim=2)
    return F.conv2d(xp, weight, groups=x.shape[1])


def circular_conv_w(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Same along W; weight [C,1,1,W]."""
    w = x.shape[3]
    xp = torch.cat([x, x[:, :, :, : w - 1]], dim=3)
    return F.conv2d(xp, weight, groups=x.shape[1])


class FullyConnectedConv(nn.Module):
    """Global circular depthwise convolution, half the channels H-then-W, half W-then-H,
    with learned positional embeddings before each 1-D global conv, BN and a residual."""

    def __init__(self, channels: int, h: int, w: int):
        super().__init__()
        assert channels % 2 == 0
        c = channels // 2
        self.c = c
        self.pe_h1 = nn.Parameter(torch.zeros(1, c, h, 1))
        self.pe_w1 = nn.Parameter(torch.zeros(1, c, 1, w))
        self.pe_w2 = nn.Parameter(torch.zeros(1, c, 1, w))
        self.pe_h2 = nn.Parameter(torch.zeros(1, c, h, 1))
        self.k_h1 = nn.Parameter(torch.randn(c, 1, h, 1) / h)
        self.k_w1 = nn.Parameter(torch.randn(c, 1, 1, w) / w)
        self.k_w2 = nn.Parameter(torch.randn(c, 1, 1, w) / w)
        self.k_h2 = nn.Parameter(torch.randn(c, 1, h, 1) / h)
        self.b1 = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.b2 = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.bn = nn.BatchNorm2d(channels)
        self.use_pe = True

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, : self.c], x[:, self.c:]
        if self.use_pe:
            x1 = x1 + self.pe_h1
        y1 = circular_conv_h(x1, self.k_h1)
        if self.use_pe:
            y1 = y1 + self.pe_w1
        y1 = circular_conv_w(y1, self.k_w1) + self.b1
        if self.use_pe:
            x2 = x2 + self.pe_w2
        y2 = circular_conv_w(x2, self.k_w2)
        if self.use_pe:
            y2 = y2 + self.pe_h2
        y2 = circular_conv_h(y2, self.k_h2) + self.b2
        return torch.cat([y1, y2], 1)

    def forward(self, x):
        return x + self.bn(self.mix(x))


class ChannelCorrespondenceConv(nn.Module):
    """Graph convolution over channels: node i = channel map (flattened, D = H*W), joined to its
    k most similar other channels (cosine similarity, computed per sample); EdgeConv update
    ReLU(W1 x_i + W2 (x_j - x_i)), max over the k neighbours, BN, residual."""

    def __init__(self, channels: int, h: int, w: int, k: int = 4):
        super().__init__()
        d = h * w
        self.k = k
        self.w1 = nn.Linear(d, d, bias=True)
        self.w2 = nn.Linear(d, d, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def neighbours(self, f: torch.Tensor) -> torch.Tensor:
        """f [N,C,D] -> indices [N,C,k] of the k most cosine-similar other channels."""
        fn = f / (f.norm(dim=2, keepdim=True) + 1e-6)
        s = fn @ fn.transpose(1, 2)
        c = f.shape[1]
        s = s - 3.0 * torch.eye(c, dtype=f.dtype, device=f.device)  # never pick oneself
        return s.topk(self.k, dim=2).indices

    def forward(self, x):
        n, c, h, w = x.shape
        f = x.flatten(2)                                   # [N,C,D]
        idx = self.neighbours(f)                           # [N,C,k]
        d = f.shape[2]
        # ReLU(W1 x_i + W2 (x_j - x_i)) = ReLU((W1 - W2) x_i + b + W2 x_j)
        q = F.linear(f, self.w1.weight - self.w2.weight, self.w1.bias)   # [N,C,D]
        p = self.w2(f).reshape(n * c, d)                                  # [N*C,D]
        base = (torch.arange(n, device=x.device) * c).reshape(n, 1, 1)
        pj = p.index_select(0, (idx + base).reshape(-1)).reshape(n, c, self.k, d)
        e = F.relu(q.unsqueeze(2) + pj)                    # [N,C,k,D]
        out = e.amax(dim=2).reshape(n, c, h, w)
        return x + self.bn(out)


class F5C(nn.Module):
    def __init__(self, channels: int, h: int, w: int, k: int = 4):
        super().__init__()
        self.fcc = FullyConnectedConv(channels, h, w)
        self.ccc = ChannelCorrespondenceConv(channels, h, w, k)

    def forward(self, x):
        return self.ccc(self.fcc(x))


def conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class F5CNet(nn.Module):
    """Two strided 3x3 conv-BN-ReLU (28 -> 14 -> 7, 32 then 48 channels), one F5C block at 7x7
    (48 channels, k = 4), ReLU, global average pool, dropout 0.3, FC 48 -> 3."""

    def __init__(self, n_classes: int = 3, width: int = 48, k: int = 4, dropout: float = 0.3):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 32, 2), conv_bn(32, width, 2))  # 28 -> 14 -> 7
        self.f5c = F5C(width, 7, 7, k)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(width, n_classes)

    @staticmethod
    def scaled(x):
        return x * (1.0 / 127.5) - 1.0          # raw 0..255 -> -1..1

    def pooled(self, x):
        """Scaled input -> [N, width]: the F5C block's map, ReLU, averaged over the 7x7 grid."""
        return F.relu(self.f5c(self.stem(x))).mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.drop(self.pooled(self.scaled(x))))


class F5CNetRegions(F5CNet):
    """F5CNet plus a regional branch (recipe `f5cnet_v7`, reports/mer_v7_preregistration.md): the
    28x28 input cut into four overlapping 16x16 windows (`WINDOWS`: the eyes and brows in the
    upper pair, the mouth corners in the lower, as the training images frame the face), one
    shared small CNN per window, the four feature vectors kept apart in a fixed order up to a
    zero-initialised linear layer whose output is added to F5CNet's logits, so that the network
    starts as F5CNet (and F5CNet's pretrained weights load into it)."""

    WINDOWS = ((0, 0), (0, 12), (12, 0), (12, 12))   # (top row, left column) of each 16x16 window
    SIDE, FEATURES = 16, 24

    def __init__(self, n_classes: int = 3, dropout: float = 0.3):
        super().__init__(n_classes, dropout=dropout)
        self.region_net = nn.Sequential(conv_bn(3, 16), conv_bn(16, self.FEATURES, 2), conv_bn(self.FEATURES, self.FEATURES, 2))
        self.region_drop = nn.Dropout(dropout)
        self.region_fc = nn.Linear(len(self.WINDOWS) * self.FEATURES, n_classes)
        nn.init.zeros_(self.region_fc.weight)
        nn.init.zeros_(self.region_fc.bias)

    def regions(self, x):
        """[N,3,28,28] (scaled) -> [N, 4 * FEATURES]: each window's features, in `WINDOWS` order."""
        n, s = x.shape[0], self.SIDE
        windows = torch.cat([x[:, :, r:r + s, c:c + s] for r, c in self.WINDOWS], 0)   # [4N,3,16,16]
        f = self.region_net(windows).mean(dim=(2, 3))                                  # [4N,F]
        return f.view(len(self.WINDOWS), n, -1).transpose(0, 1).reshape(n, -1)

    def forward(self, x):
        x = self.scaled(x)
        return self.fc(self.drop(self.pooled(x))) + self.region_fc(self.region_drop(self.regions(x)))


ARCHS = {"ststnet": STSTNet, "f5cnet": F5CNet, "f5cnet_regions": F5CNetRegions}


def build(arch: str) -> nn.Module:
    return ARCHS[arch]()


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
