"""The benchmark peer: the same ACGAN architecture and recipe in PyTorch (eager).

Benchmark-only: the library never imports torch. Layer for layer as acgan_lib.models (NCHW here):
generator 2,657,321 and discriminator 525,835 trainable parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SOFT_ONE = 0.95


class Generator(nn.Module):
    def __init__(self, latent_dim: int = 100, num_classes: int = 10):
        super().__init__()
        self.latent_dim = latent_dim
        self.embedding = nn.Embedding(num_classes, latent_dim)
        nn.init.xavier_normal_(self.embedding.weight)
        self.dense = nn.Linear(latent_dim, 3 * 3 * 384)
        self.deconv1 = nn.ConvTranspose2d(384, 192, 5, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(192, eps=1e-3, momentum=0.01)
        self.deconv2 = nn.ConvTranspose2d(192, 96, 5, stride=2, padding=2, output_padding=1)
        self.bn2 = nn.BatchNorm2d(96, eps=1e-3, momentum=0.01)
        self.deconv3 = nn.ConvTranspose2d(96, 1, 5, stride=2, padding=2, output_padding=1)
        for m in (self.deconv1, self.deconv2, self.deconv3):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, z, labels):
        h = z * self.embedding(labels)
        h = F.relu(self.dense(h)).view(-1, 384, 3, 3)
        h = self.bn1(F.relu(self.deconv1(h)))
        h = self.bn2(F.relu(self.deconv2(h)))
        return torch.tanh(self.deconv3(h))


class Discriminator(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 32, 3, 2, 1), nn.Conv2d(32, 64, 3, 1, 1),
                                    nn.Conv2d(64, 128, 3, 2, 1), nn.Conv2d(128, 256, 3, 1, 1)])
        self.realness = nn.Linear(7 * 7 * 256, 1)
        self.classes = nn.Linear(7 * 7 * 256, num_classes)

    def forward(self, x):
        for conv in self.convs:
            x = F.dropout(F.leaky_relu(conv(x), 0.2), 0.3, self.training)
        x = x.flatten(1)
        return self.realness(x)[:, 0], self.classes(x)


class Peer:
    """One reference iteration: D step on B real + B fake, G step on 2B through the frozen D."""

    def __init__(self, images, labels, batch_size: int = 100, seed: int = 0, device: str = "cpu"):
        torch.manual_seed(seed)
        self.device = device
        self.gen, self.disc = Generator().to(device), Discriminator().to(device)
        self.g_opt = torch.optim.Adam(self.gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.images = torch.as_tensor(images).permute(0, 3, 1, 2).contiguous().to(device)
        self.labels = torch.as_tensor(labels).long().to(device)
        self.b = batch_size
        self.i = 0

    def iteration(self):
        b, n = self.b, len(self.labels)
        start = (self.i * b) % (n - b)
        self.i += 1
        real, real_labels = self.images[start:start + b], self.labels[start:start + b]
        z = torch.rand(b, 100, device=self.device) * 2 - 1
        sampled = torch.randint(0, 10, (b,), device=self.device)
        self.gen.eval()
        with torch.no_grad():
            fakes = self.gen(z, sampled)
        self.gen.train()
        x = torch.cat([real, fakes])
        y = torch.cat([torch.full((b,), SOFT_ONE, device=self.device), torch.zeros(b, device=self.device)])
        aux = torch.cat([real_labels, sampled])
        r, c = self.disc(x)
        d_loss = F.binary_cross_entropy_with_logits(r, y) + F.cross_entropy(c, aux)
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()

        z2 = torch.rand(2 * b, 100, device=self.device) * 2 - 1
        l2 = torch.randint(0, 10, (2 * b,), device=self.device)
        for p in self.disc.parameters():
            p.requires_grad_(False)
        r, c = self.disc(self.gen(z2, l2))
        g_loss = F.binary_cross_entropy_with_logits(r, torch.full((2 * b,), SOFT_ONE, device=self.device)) \
            + F.cross_entropy(c, l2)
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        for p in self.disc.parameters():
            p.requires_grad_(True)
        return d_loss, g_loss

    def sync(self):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
