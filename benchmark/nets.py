"""Reusable hooked agent architectures: the IMPALA CNN for pixels, a grid CNN and a DRC for symbolic boards.

Every block ends in a named hook point (``encoder.stack0.res1.hook_out``, ``core.layer2.tick1.hook_h``), declared
with its per-example shape; shapes in comments include the batch dimension. Task families build their agents
from these classes so that methods meet the same hook names across tasks.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mirl.hooked import HookedAgent, HookPoint

State = tuple[torch.Tensor, torch.Tensor]


def layer_init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights and constant bias, as CleanRL initialises its PPO networks."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def _as_float(obs: torch.Tensor, scale: float) -> torch.Tensor:
    """uint8 frames are scaled into [0, 1]; float input is taken as already scaled."""
    if obs.dtype == torch.uint8:
        return obs.float() / scale
    return obs if obs.is_floating_point() else obs.float()


# --- heads shared by every architecture ----------------------------------------------------------------


class Dense(nn.Module):
    """flatten → linear → ReLU: the torso's last layer, read by both heads."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.linear = layer_init(nn.Linear(in_features, hidden))
        self.hook_out = HookPoint((hidden,))  # [batch, hidden] after ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(F.relu(self.linear(x.flatten(1))))


class PolicyHead(nn.Module):
    def __init__(self, hidden: int, num_actions: int):
        super().__init__()
        # Small init keeps the initial policy near uniform (CleanRL's std=0.01).
        self.linear = layer_init(nn.Linear(hidden, num_actions), std=0.01)
        self.hook_logits = HookPoint((num_actions,))  # [batch, num_actions]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_logits(self.linear(x))


class ValueHead(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.linear = layer_init(nn.Linear(hidden, 1), std=1.0)
        self.hook_value = HookPoint((1,))  # [batch, 1]; forward returns it squeezed to [batch]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_value(self.linear(x))


# --- IMPALA CNN ----------------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))), channels and size unchanged."""

    def __init__(self, channels: int, size: tuple[int, int]):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.hook_out = HookPoint((channels, *size))  # [batch, C, H, W] after the skip sum (pre-ReLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.conv0(F.relu(x))))
        return self.hook_out(x + h)


class ConvStack(nn.Module):
    """conv 3×3 → max-pool 3×3 stride 2 (halves H and W, rounding up) → two residual blocks."""

    def __init__(self, in_channels: int, channels: int, in_size: tuple[int, int]):
        super().__init__()
        self.out_size = ((in_size[0] + 1) // 2, (in_size[1] + 1) // 2)
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.hook_out = HookPoint((channels, *self.out_size))  # [batch, C, H/2, W/2] after the pool
        self.res0 = ResidualBlock(channels, self.out_size)
        self.res1 = ResidualBlock(channels, self.out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_out(F.max_pool2d(self.conv(x), kernel_size=3, stride=2, padding=1))
        return self.res1(self.res0(x))


class ImpalaEncoder(nn.Module):
    def __init__(self, obs_shape: Sequence[int], channels: Sequence[int]):
        super().__init__()
        in_channels, size = obs_shape[0], (obs_shape[1], obs_shape[2])
        for i, c in enumerate(channels):
            stack = ConvStack(in_channels, c, size)
            self.add_module(f"stack{i}", stack)
            in_channels, size = c, stack.out_size
        self.num_stacks = len(channels)
        self.out_shape = (in_channels, *size)
        self.hook_out = HookPoint(self.out_shape)  # [batch, C_last, H/8, W/8] after the final ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.num_stacks):
            x = getattr(self, f"stack{i}")(x)
        return self.hook_out(F.relu(x))


class PixelAgent(HookedAgent):
    """A pixel encoder (any module with ``out_shape``) under the shared dense layer and heads.

    obs [batch, C, H, W] (uint8 frames are scaled by 1/255) → (logits [batch, A], value [batch]).
    """

    def __init__(self, obs_shape: Sequence[int], num_actions: int, encoder: nn.Module, hidden: int):
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.hook_obs = HookPoint(self.obs_shape)  # [batch, 3, 64, 64] as floats in [0, 1]
        self.encoder = encoder
        self.dense = Dense(math.prod(encoder.out_shape), hidden)
        self.policy = PolicyHead(hidden, num_actions)
        self.value = ValueHead(hidden)
        self.setup_hooks()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.dense(self.encoder(self.hook_obs(_as_float(obs, 255.0))))
        return self.policy(h), self.value(h).squeeze(-1)


class ImpalaCNN(PixelAgent):
    """The IMPALA CNN (Espeholt et al. 2018) as in CleanRL's ``ppo_procgen.py``."""

    def __init__(
        self,
        obs_shape: Sequence[int] = (3, 64, 64),
        num_actions: int = 15,
        channels: Sequence[int] = (16, 32, 32),
        hidden: int = 256,
    ):
        super().__init__(obs_shape, num_actions, ImpalaEncoder(tuple(obs_shape), channels), hidden)


# --- strided CNN for pixels ------------------------------------------------------------------------------


class StridedConv(nn.Module):
    """conv (strided, no padding) → ReLU."""

    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int, in_size: int):
        super().__init__()
        self.conv = layer_init(nn.Conv2d(in_channels, channels, kernel_size=kernel, stride=stride))
        self.out_size = (in_size - kernel) // stride + 1
        self.hook_out = HookPoint((channels, self.out_size, self.out_size))  # [batch, C, out, out] after ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(F.relu(self.conv(x)))


class StridedEncoder(nn.Module):
    def __init__(self, obs_shape: Sequence[int], channels: Sequence[int]):
        super().__init__()
        c0, c1, c2 = channels
        size = obs_shape[1]
        self.conv0 = StridedConv(obs_shape[0], c0, 8, 4, size)  # 64 → 15
        self.conv1 = StridedConv(c0, c1, 4, 2, self.conv0.out_size)  # 15 → 6
        self.conv2 = StridedConv(c1, c2, 3, 1, self.conv1.out_size)  # 6 → 4
        self.out_shape = (c2, self.conv2.out_size, self.conv2.out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(self.conv0(x)))


class StridedCNN(PixelAgent):
    """A 3-layer strided CNN (Mnih et al. 2015's shape, narrower): ~40× cheaper than the IMPALA CNN on 64×64
    frames, which is what makes training on 2 CPU cores take hours rather than days."""

    def __init__(
        self,
        obs_shape: Sequence[int] = (3, 64, 64),
        num_actions: int = 15,
        channels: Sequence[int] = (32, 64, 64),
        hidden: int = 256,
    ):
        super().__init__(obs_shape, num_actions, StridedEncoder(tuple(obs_shape), channels), hidden)


# --- grid CNN ------------------------------------------------------------------------------------------


class GridConv(nn.Module):
    """conv 3×3, padding 1 → ReLU: the grid size is kept, so unit (c, y, x) always looks at square (y, x)."""

    def __init__(self, in_channels: int, channels: int, size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.hook_out = HookPoint((channels, size, size))  # [batch, C, size, size] after ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(F.relu(self.conv(x)))


class GridEncoder(nn.Module):
    def __init__(self, in_channels: int, size: int, channels: int, layers: int):
        super().__init__()
        self.layers = layers
        for i in range(layers):
            self.add_module(f"conv{i}", GridConv(in_channels if i == 0 else channels, channels, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.layers):
            x = getattr(self, f"conv{i}")(x)
        return x


class GridCNN(HookedAgent):
    """A spatial CNN for small symbolic grids: obs [batch, C_in, size, size] → (logits [batch, A], value [batch])."""

    def __init__(
        self, in_channels: int, size: int, num_actions: int, channels: int = 32, layers: int = 3, hidden: int = 256
    ):
        super().__init__()
        self.hook_obs = HookPoint((in_channels, size, size))  # [batch, C_in, size, size] as floats
        self.encoder = GridEncoder(in_channels, size, channels, layers)
        self.dense = Dense(channels * size * size, hidden)
        self.policy = PolicyHead(hidden, num_actions)
        self.value = ValueHead(hidden)
        self.setup_hooks()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.dense(self.encoder(self.hook_obs(_as_float(obs, 1.0))))
        return self.policy(h), self.value(h).squeeze(-1)


# --- DRC: Deep Repeated ConvLSTM -----------------------------------------------------------------------


class DRCEncoder(nn.Module):
    """Two 3×3 convs (padding 1, so the board size is kept), each followed by a ReLU."""

    def __init__(self, in_channels: int, channels: int, size: int):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.hook_out = HookPoint((channels, size, size))  # [batch, C, size, size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(F.relu(self.conv1(F.relu(self.conv0(x)))))


class Tick(nn.Module):
    """Holds one layer's hook points for one tick, so their names end in ``tickN.hook_h`` / ``tickN.hook_c``."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.hook_h = HookPoint((channels, size, size))  # [batch, C, size, size] hidden state after this tick
        self.hook_c = HookPoint((channels, size, size))  # [batch, C, size, size] cell state after this tick


class ConvLSTMLayer(nn.Module):
    """One ConvLSTM layer of the DRC core; its weights are shared by every tick."""

    # Added to the forget gate's pre-activation (as TF's LSTMCell forget_bias) so that early in training the
    # cell keeps its memory instead of being wiped at every tick.
    FORGET_BIAS = 1.0

    def __init__(self, channels: int, size: int, ticks: int):
        super().__init__()
        # input = [encoded obs, h from below, pool-and-inject of own h] (3C) plus own recurrent h (C).
        self.conv = nn.Conv2d(4 * channels, 4 * channels, kernel_size=3, padding=1)
        # pool-and-inject: spatial mean and max of the layer's own previous h → one vector per channel.
        self.pool_inject = nn.Linear(2 * channels, channels)
        for n in range(ticks):
            self.add_module(f"tick{n}", Tick(channels, size))

    def forward(
        self, encoded: torch.Tensor, below: torch.Tensor, h: torch.Tensor, c: torch.Tensor, tick: Tick
    ) -> State:
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # [batch, 2C]
        injected = self.pool_inject(pooled)[:, :, None, None].expand_as(h)  # [batch, C, H, W], same everywhere
        gates = self.conv(torch.cat([encoded, below, injected, h], dim=1))  # [batch, 4C, H, W]
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f + self.FORGET_BIAS) * c + torch.sigmoid(i) * torch.tanh(g)
        c = tick.hook_c(c)
        h = tick.hook_h(torch.sigmoid(o) * torch.tanh(c))
        return h, c


class DRCCore(nn.Module):
    def __init__(self, channels: int, size: int, depth: int, ticks: int):
        super().__init__()
        self.depth, self.ticks = depth, ticks
        for d in range(depth):
            self.add_module(f"layer{d}", ConvLSTMLayer(channels, size, ticks))

    def forward(self, encoded: torch.Tensor, state: State) -> State:
        hs, cs = list(state[0].unbind(1)), list(state[1].unbind(1))  # D tensors of [batch, C, H, W] each
        for n in range(self.ticks):
            for d in range(self.depth):
                layer: ConvLSTMLayer = getattr(self, f"layer{d}")
                # Layer 0 reads the top layer's h from the previous tick (at tick 0: from the previous step).
                below = hs[d - 1] if d > 0 else hs[-1]
                hs[d], cs[d] = layer(encoded, below, hs[d], cs[d], getattr(layer, f"tick{n}"))
        return torch.stack(hs, dim=1), torch.stack(cs, dim=1)


class DRC(HookedAgent):
    """Deep Repeated ConvLSTM, DRC(depth, ticks) of Guez et al. 2019 ("An investigation of model-free planning").

    obs [batch, C_in, size, size] → (logits [batch, A], value [batch], new state).
    State: ``(h, c)``, each [batch, depth, C, size, size]; zeros at the start of an episode.
    """

    recurrent = True

    def __init__(
        self,
        in_channels: int,
        size: int,
        num_actions: int,
        depth: int = 3,
        ticks: int = 3,
        channels: int = 32,
        hidden: int = 256,
    ):
        super().__init__()
        self.depth, self.ticks, self.channels, self.size = depth, ticks, channels, size
        self.hook_obs = HookPoint((in_channels, size, size))  # [batch, C_in, size, size] as floats
        self.encoder = DRCEncoder(in_channels, channels, size)
        self.core = DRCCore(channels, size, depth, ticks)
        # The head reads the top layer's last h together with the encoding (a skip connection, as in the paper).
        self.dense = Dense(2 * channels * size * size, hidden)
        self.policy = PolicyHead(hidden, num_actions)
        self.value = ValueHead(hidden)
        self.setup_hooks()

    def initial_state(self, batch_size: int) -> State:
        p = next(self.parameters())
        shape = (batch_size, self.depth, self.channels, self.size, self.size)
        return torch.zeros(shape, dtype=p.dtype, device=p.device), torch.zeros(shape, dtype=p.dtype, device=p.device)

    def forward(
        self, obs: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        if state is None:
            state = self.initial_state(obs.shape[0])
        encoded = self.encoder(self.hook_obs(_as_float(obs, 1.0)))
        h, c = self.core(encoded, state)
        x = self.dense(torch.cat([h[:, -1], encoded], dim=1))
        return self.policy(x), self.value(x).squeeze(-1), (h, c)
