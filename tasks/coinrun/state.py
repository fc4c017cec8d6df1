"""Read and edit procgen CoinRun's serialized state (stock procgen 0.10.7): agent, entities, level grid, coin.

The byte layout is the one in ``shared/notes/coinrun-state.md`` §2: little-endian int32/float32 scalars,
strings as an int32 length plus raw bytes, vectors as an int32 count plus elements, and procgen's end marker.
Three mt19937 generators are serialized as text of varying length, so every offset after byte 87 is found by
walking the fields; the level grid alone sits at a fixed distance from the end.

In CoinRun the coin is not an entity but one grid cell (``GOAL``); moving it rewrites two int32 cells. procgen
exits the whole process on a malformed state, so everything here validates before anyone calls ``set_state``.
Pure Python and NumPy: nothing here needs procgen.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

STATE_END_MARKER = 0xCAFECAFE
GAME = b"coinrun"
SERIALIZE_VERSION = 0

GRID_W = GRID_H = 64
GRID_BYTES = 4 * GRID_W * GRID_H
TAIL_BYTES = 32  # CoinRun's seven fields and the end marker (§2c)
GRID_FROM_END = TAIL_BYTES + GRID_BYTES  # first grid cell is at len(state) - 16416 (§2d)
VIEW_CELLS = 13  # the agent's observation spans 13×13 cells, centred on the agent (center_agent=True)

# Grid cell codes (§1)
GOAL = 1
WALL_MID = 15
WALL_TOP = 16
LAVA_MID = 17
LAVA_TOP = 18
ENEMY_BARRIER = 19
SPACE = 100
GROUND = (WALL_TOP, WALL_MID)
LAVA = (LAVA_MID, LAVA_TOP)

# Entity types seen in CoinRun states (§1)
PLAYER, SAW, ENEMY, CRATE, TRAIL = 0, 2, 5, 20, 59

MIN_COIN_X = 3  # the agent's spawn box covers cells x = 1 (and 2 once it moves): a coin there is taken at once

# Field order of the serialized game, as (name, kind): "i" int32, "f" float32, "s" string, "I" uint32.
_BASE_FIELDS = [
    ("version", "i"), ("game_name", "s"),
    *[(name, "i") for name in (
        "paint_vel_info", "use_generated_assets", "use_monochrome_assets", "restrict_themes", "use_backgrounds",
        "center_agent", "debug_mode", "distribution_mode", "use_sequential_levels", "use_easy_jump",
        "plain_assets", "physics_mode", "grid_step", "level_seed_low", "level_seed_high", "game_type", "game_n")],
    ("level_seed_rand_gen.is_seeded", "i"), ("level_seed_rand_gen.state", "s"),
    ("rand_gen.is_seeded", "i"), ("rand_gen.state", "s"),
    ("step_reward", "f"), ("step_done", "i"), ("step_level_complete", "i"), ("action", "i"), ("timeout", "i"),
    ("current_level_seed", "i"), ("prev_level_seed", "i"), ("episodes_remaining", "i"), ("episode_done", "i"),
    ("last_reward_timer", "i"), ("last_reward", "f"), ("default_action", "i"), ("fixed_asset_seed", "i"),
    ("cur_time", "i"), ("is_waiting_for_step", "i"),
    ("grid_size", "i"),
]
# (the entity count and the entity records come here)
_MIDDLE_FIELDS = [
    ("use_procgen_background", "i"), ("background_index", "i"), ("bg_tile_ratio", "f"), ("bg_pct_x", "f"),
    ("char_dim", "f"), ("last_move_action", "i"), ("move_action", "i"), ("special_action", "i"),
    ("mixrate", "f"), ("maxspeed", "f"), ("max_jump", "f"), ("action_vx", "f"), ("action_vy", "f"),
    ("action_vrot", "f"), ("center_x", "f"), ("center_y", "f"), ("random_agent_start", "i"),
    ("has_useful_vel_info", "i"), ("step_rand_int", "i"),
    ("asset_rand_gen.is_seeded", "i"), ("asset_rand_gen.state", "s"),
    ("main_width", "i"), ("main_height", "i"), ("out_of_bounds_object", "i"),
    ("unit", "f"), ("view_dim", "f"), ("x_off", "f"), ("y_off", "f"), ("visibility", "f"),
    ("min_visibility", "f"),
    ("grid_w", "i"), ("grid_h", "i"), ("grid_cells", "i"),
]
# (the 4096 grid cells come here)
_TAIL_FIELDS = [
    ("last_agent_y", "f"), ("wall_theme", "i"), ("has_support", "i"), ("facing_right", "i"), ("is_on_crate", "i"),
    ("gravity", "f"), ("air_control", "f"), ("end_marker", "I"),
]
ENTITY_FIELDS = (
    "x", "y", "vx", "vy", "rx", "ry", "type", "image_type", "image_theme", "render_z", "will_erase",
    "collides_with_entities", "collision_margin", "rotation", "vrot", "is_reflected", "fire_time", "spawn_time",
    "life_time", "expire_time", "use_abs_coords", "friction", "smart_step", "avoids_collisions", "auto_erase",
    "alpha", "health", "theta", "grow_rate", "alpha_decay", "climber_spawn_x",
)
ENTITY_BYTES = 4 * len(ENTITY_FIELDS)  # 124
_E = {name: i for i, name in enumerate(ENTITY_FIELDS)}
_FIXED_NAME_END = 15  # version, name length, "coinrun"
_LEVEL_SEED_GEN_TEXT = 87  # offset of the first generator's text (its int32 length)
_STEP_TO_ENTITIES = 15 * 4 + 4 + 4  # 15 step scalars, grid_size, entity count


class Entity(NamedTuple):
    """One entity's type, centre and half-size, in world units (1 unit = 1 grid cell)."""

    type: int
    x: float
    y: float
    rx: float
    ry: float


@dataclass
class CoinRunState:
    """A parsed CoinRun state. ``to_bytes()`` serializes it back (``parse(b).to_bytes() == b``).

    Edit ``grid``, ``entity_records`` or ``fields`` and call ``to_bytes()`` to build an edited state; ``agent_*``,
    ``entities`` and ``coin_cells`` are read from those, so they follow edits.
    """

    fields: dict[str, int | float | bytes]
    """Every scalar and string in serialization order (generator texts as bytes)."""
    entity_records: np.ndarray  # [n, 31] int32: raw records; float fields via .view("<f4")
    grid: np.ndarray  # [64, 64] int32, indexed [y, x], y = 0 at the bottom (a copy)
    grid_offset: int
    """Byte offset of cell (0, 0); cell (x, y) is the int32 at ``grid_offset + 4 * (64 * y + x)``."""
    step_reward_offset: int
    """Byte offset of the step-reward float (replayed by ``set_state``: see ``move_coin``)."""
    entities_offset: int
    """Byte offset of entity 0's record (the agent)."""
    size: int = field(default=0)

    # ---- the agent (entity 0) ----------------------------------------------------------------------------
    def _agent(self, name: str) -> float:
        return float(self.entity_records[0:1, _E[name]].view("<f4")[0])

    @property
    def agent_x(self) -> float:
        return self._agent("x")

    @property
    def agent_y(self) -> float:
        return self._agent("y")

    @property
    def agent_vx(self) -> float:
        return self._agent("vx")

    @property
    def agent_vy(self) -> float:
        return self._agent("vy")

    @property
    def agent_box(self) -> tuple[float, float, float, float]:
        """(x, y, rx, ry) of the agent."""
        return self._agent("x"), self._agent("y"), self._agent("rx"), self._agent("ry")

    @property
    def entities(self) -> list[Entity]:
        floats = self.entity_records.view("<f4")
        return [
            Entity(int(r[_E["type"]]), float(f[0]), float(f[1]), float(f[4]), float(f[5]))
            for r, f in zip(self.entity_records, floats)
        ]

    def entity_array(self, name: str) -> np.ndarray:
        """One field of every entity as an array (float fields as float32, int fields as int32)."""
        column = self.entity_records[:, _E[name]]
        return column.view("<f4") if name in _FLOAT_ENTITY_FIELDS else column

    # ---- the level -----------------------------------------------------------------------------------------
    @property
    def coin_cells(self) -> list[tuple[int, int]]:
        """(x, y) of every GOAL cell; a stock level has exactly one."""
        ys, xs = np.nonzero(self.grid == GOAL)
        return [(int(x), int(y)) for x, y in zip(xs, ys)]

    @property
    def end_column(self) -> int:
        """The level's last open column: where the generator put the coin (the original coin column).

        The generator fills every column right of the coin with WALL_MID over the full height, so this is
        recovered from the grid even after the coin has been moved.
        """
        return end_column(self.grid)

    def to_bytes(self) -> bytes:
        return serialize(self)


_FLOAT_ENTITY_FIELDS = {
    "x", "y", "vx", "vy", "rx", "ry", "collision_margin", "rotation", "vrot", "friction", "alpha", "health",
    "theta", "grow_rate", "alpha_decay", "climber_spawn_x",
}


def end_column(grid: np.ndarray) -> int:
    """The rightmost column that is not solid WALL_MID between the floor and ceiling rows (see CoinRunState)."""
    inner = grid[1:GRID_H - 1, :]
    open_columns = np.flatnonzero((inner != WALL_MID).any(axis=0))
    return int(open_columns[-1]) if len(open_columns) else -1


def check_state(state: bytes) -> None:
    """Refuse bytes procgen would die on: wrong game, truncated, or missing the end marker.

    A cheap check (no walk over the fields); ``parse`` checks everything.
    """
    if len(state) < GRID_FROM_END + 87:
        raise ValueError(f"a CoinRun state is 37–56 KB; got {len(state)} bytes (truncated?)")
    name_length = struct.unpack_from("<i", state, 4)[0]
    name = state[8:8 + name_length]
    if name != GAME:
        raise ValueError(f"state is from game {name!r}, not coinrun")
    if struct.unpack_from("<I", state, len(state) - 4)[0] != STATE_END_MARKER:
        raise ValueError("state lacks procgen's end marker (truncated or corrupted)")
    if struct.unpack_from("<3i", state, len(state) - GRID_FROM_END - 12) != (64, 64, 4096):
        raise ValueError("state's level grid header is not 64×64 (not a stock CoinRun state)")


def _read(state: bytes, fields: list, offset: int, out: dict, offsets: dict) -> int:
    for name, kind in fields:
        if kind == "s":
            (n,) = struct.unpack_from("<i", state, offset)
            if n < 0 or offset + 4 + n > len(state):
                raise ValueError(f"CoinRun state: string {name} has length {n} at byte {offset} (corrupted)")
            offsets[name] = offset
            out[name] = bytes(state[offset + 4:offset + 4 + n])
            offset += 4 + n
        else:
            offsets[name] = offset
            (out[name],) = struct.unpack_from("<" + kind, state, offset)
            offset += 4
    return offset


def parse(state: bytes) -> CoinRunState:
    """Walk every field of a CoinRun state (§2a–2c) and validate it; ``ValueError`` on anything unexpected."""
    check_state(state)
    size = len(state)
    fields: dict = {}
    offsets: dict = {}
    try:
        offset = _read(state, _BASE_FIELDS, 0, fields, offsets)
        if fields["version"] != SERIALIZE_VERSION:
            raise ValueError(f"CoinRun state: serialize version {fields['version']}, expected {SERIALIZE_VERSION}")
        if fields["game_name"] != GAME:
            raise ValueError(f"state is from game {fields['game_name']!r}, not coinrun")
        if fields["grid_size"] != GRID_W * GRID_H:
            raise ValueError(f"CoinRun state: grid_size {fields['grid_size']}, expected 4096")
        (count,) = struct.unpack_from("<i", state, offset)
        if count < 1 or offset + 4 + count * ENTITY_BYTES > size:
            raise ValueError(f"CoinRun state: entity count {count} does not fit the state (corrupted)")
        offset += 4
        entities_offset = offset
        records = np.frombuffer(state, dtype="<i4", count=count * len(ENTITY_FIELDS), offset=offset)
        records = records.reshape(count, len(ENTITY_FIELDS)).copy()
        offset += count * ENTITY_BYTES
        offset = _read(state, _MIDDLE_FIELDS, offset, fields, offsets)
        header = (fields["grid_w"], fields["grid_h"], fields["grid_cells"])
        if header != (GRID_W, GRID_H, GRID_W * GRID_H):
            raise ValueError(f"CoinRun state: grid header {header}, expected (64, 64, 4096)")
        grid_offset = offset
        grid = np.frombuffer(state, dtype="<i4", count=GRID_W * GRID_H, offset=offset).reshape(GRID_H, GRID_W).copy()
        offset += GRID_BYTES
        offset = _read(state, _TAIL_FIELDS, offset, fields, offsets)
    except struct.error as error:
        raise ValueError(f"CoinRun state ends early ({size} bytes): {error}") from None
    if fields["end_marker"] != STATE_END_MARKER:
        raise ValueError("CoinRun state: end marker missing where the fields end (corrupted)")
    if offset != size:
        raise ValueError(f"CoinRun state: fields end at byte {offset} but the state has {size} bytes")
    if grid_offset != size - GRID_FROM_END:
        raise ValueError("CoinRun state: the grid is not 16416 bytes before the end (not a stock CoinRun state)")
    if records[0, _E["type"]] != PLAYER:
        raise ValueError(f"CoinRun state: entity 0 has type {records[0, _E['type']]}, expected the player (0)")
    return CoinRunState(fields=fields, entity_records=records, grid=grid, grid_offset=grid_offset,
                        step_reward_offset=offsets["step_reward"], entities_offset=entities_offset, size=size)


def _write(parts: list, fields: list, values: dict) -> None:
    for name, kind in fields:
        value = values[name]
        if kind == "s":
            parts.append(struct.pack("<i", len(value)))
            parts.append(bytes(value))
        else:
            parts.append(struct.pack("<" + kind, value))


def serialize(state: CoinRunState) -> bytes:
    """The bytes of a parsed (and possibly edited) state, in procgen's field order."""
    records = np.ascontiguousarray(state.entity_records, dtype="<i4")
    grid = np.ascontiguousarray(state.grid, dtype="<i4")
    if records.ndim != 2 or records.shape[1] != len(ENTITY_FIELDS) or len(records) < 1:
        raise ValueError(f"entity_records must be [n >= 1, {len(ENTITY_FIELDS)}], got {records.shape}")
    if grid.shape != (GRID_H, GRID_W):
        raise ValueError(f"grid must be [64, 64], got {grid.shape}")
    parts: list[bytes] = []
    _write(parts, _BASE_FIELDS, state.fields)
    parts.append(struct.pack("<i", len(records)))
    parts.append(records.tobytes())
    _write(parts, _MIDDLE_FIELDS, state.fields)
    parts.append(grid.tobytes())
    _write(parts, _TAIL_FIELDS, state.fields)
    return b"".join(parts)


def agent_position(state: bytes) -> tuple[float, float]:
    """The agent's centre (x, y) in world units, read without parsing the rest of the state."""
    if state[8:_FIXED_NAME_END] != GAME:
        raise ValueError(f"state is from game {bytes(state[8:_FIXED_NAME_END])!r}, not coinrun")
    offset = _LEVEL_SEED_GEN_TEXT
    (n,) = struct.unpack_from("<i", state, offset)
    offset += 4 + n + 4  # the text, then rand_gen's is_seeded
    (n,) = struct.unpack_from("<i", state, offset)
    offset += 4 + n + _STEP_TO_ENTITIES
    x, y = struct.unpack_from("<2f", state, offset)
    return x, y


# ---- the coin -------------------------------------------------------------------------------------------


def _cells_under_box(x: float, y: float, rx: float, ry: float, margin: float = 0.001) -> set[tuple[int, int]]:
    """Grid cells a box overlaps (shrunk by ``margin``, as procgen's grid collision test does)."""
    x0, x1 = math.floor(x - rx + margin), math.floor(x + rx - margin)
    y0, y1 = math.floor(y - ry + margin), math.floor(y + ry - margin)
    return {(cx, cy) for cx in range(x0, x1 + 1) for cy in range(y0, y1 + 1)}


def _entity_overlap_cells(parsed: CoinRunState) -> dict[tuple[int, int], int]:
    """Cells any non-player entity's box overlaps, mapped to that entity's type."""
    cells: dict[tuple[int, int], int] = {}
    floats = parsed.entity_records.view("<f4")
    for kind, (x, y, rx, ry) in zip(parsed.entity_records[1:, _E["type"]].tolist(), floats[1:, [0, 1, 4, 5]].tolist()):
        for cell in _cells_under_box(x, y, rx, ry):
            cells.setdefault(cell, kind)
    return cells


def standing_cells(state: bytes | CoinRunState) -> list[tuple[int, int]]:
    """Cells a coin can go on so that the agent can stand in it: SPACE with WALL_TOP/WALL_MID directly below,
    ``3 <= x <`` the original coin column, no entity in it (no box overlapping it, so no crate or saw covers
    the coin) and clear of the agent's box (pitfalls 7–9). Every one is a valid ``move_coin`` target.

    Sorted by (x, y). Geometry alone does not prove a cell reachable (a high ledge may not be), but every block
    top in a stock level is reached by some path the generator built.
    """
    parsed = state if isinstance(state, CoinRunState) else parse(state)
    grid = parsed.grid
    ok = np.zeros((GRID_H, GRID_W), dtype=bool)
    ok[1:, :] = (grid[1:, :] == SPACE) & ((grid[:-1, :] == WALL_TOP) | (grid[:-1, :] == WALL_MID))
    ok[:, :MIN_COIN_X] = False
    ok[:, parsed.end_column:] = False
    blocked = set(_entity_overlap_cells(parsed)) | _cells_under_box(*parsed.agent_box)
    for cx, cy in blocked:
        if 0 <= cx < GRID_W and 0 <= cy < GRID_H:
            ok[cy, cx] = False
    xs, ys = np.nonzero(ok.T)  # transposed, so sorted by x, then y
    return list(zip(xs.tolist(), ys.tolist()))


def random_standing_cell(state: CoinRunState, rng: np.random.Generator) -> tuple[int, int] | None:
    """A coin placer: a uniformly random ``standing_cells`` cell (None, i.e. leave the coin, if there is none)."""
    cells = standing_cells(state)
    return cells[int(rng.integers(len(cells)))] if cells else None


_CELL_NAMES = {GOAL: "the coin", WALL_MID: "a wall", WALL_TOP: "a wall", LAVA_MID: "lava", LAVA_TOP: "lava",
               ENEMY_BARRIER: "an (invisible) enemy barrier"}


def check_coin_target(parsed: CoinRunState, x: int, y: int) -> tuple[int, int]:
    """The current coin cell, if (x, y) is a valid new one; a one-line ``ValueError`` saying why not otherwise."""
    hint = "; choose a SPACE cell, e.g. from standing_cells()"
    if not (isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer))):
        raise ValueError(f"coin target ({x!r}, {y!r}) must be integer cell coordinates{hint}")
    x, y = int(x), int(y)
    if not (0 <= x < GRID_W and 0 <= y < GRID_H):
        raise ValueError(f"coin target ({x}, {y}) is off the 64×64 map{hint}")
    coins = parsed.coin_cells
    if len(coins) != 1:
        raise ValueError(f"state has {len(coins)} coin cells, expected exactly 1; cannot move the coin")
    if (x, y) == coins[0]:
        return coins[0]  # moving the coin where it is: a no-op
    value = int(parsed.grid[y, x])
    if value != SPACE:
        where = _CELL_NAMES.get(value, "a non-empty cell")
        raise ValueError(f"coin target ({x}, {y}) is inside {where} (cell value {value}){hint}")
    overlapping = _entity_overlap_cells(parsed)
    if (x, y) in overlapping:
        raise ValueError(f"coin target ({x}, {y}) is on an entity (type {overlapping[(x, y)]}), which would cover "
                         f"or guard the coin{hint}")
    if (x, y) in _cells_under_box(*parsed.agent_box):
        raise ValueError(f"coin target ({x}, {y}) overlaps the agent, which would take the coin at once{hint}")
    return coins[0]


def move_coin(state: bytes, x: int, y: int, zero_reward: bool = True, parsed: CoinRunState | None = None) -> bytes:
    """``state`` with the coin moved to cell (x, y): the old coin cell becomes SPACE, (x, y) becomes GOAL.

    ``zero_reward`` writes 0.0 into the step-reward field: ``set_state`` replays that field into the reward
    buffer, so a state read right after the coin was collected would otherwise pay the 10 again (pitfall 2).
    Pass ``parsed`` (``parse(state)``) to skip parsing again.
    """
    parsed = parse(state) if parsed is None else parsed
    ox, oy = check_coin_target(parsed, x, y)
    edited = bytearray(state)
    struct.pack_into("<i", edited, parsed.grid_offset + 4 * (GRID_W * oy + ox), SPACE)
    struct.pack_into("<i", edited, parsed.grid_offset + 4 * (GRID_W * int(y) + int(x)), GOAL)
    if zero_reward:
        struct.pack_into("<f", edited, parsed.step_reward_offset, 0.0)
    return bytes(edited)


# ---- hazards ----------------------------------------------------------------------------------------------


def touching(parsed: CoinRunState, margin: float = 0.0) -> set[str]:
    """Which hazards ("lava", "saw", "enemy") the agent's box, grown by ``margin``, overlaps."""
    x, y, rx, ry = parsed.agent_box
    found = set()
    cells = _cells_under_box(x, y, rx + margin, ry + margin)
    if any(0 <= cy < GRID_H and 0 <= cx < GRID_W and parsed.grid[cy, cx] in LAVA for cx, cy in cells):
        found.add("lava")
    floats = parsed.entity_records.view("<f4")
    for record, f in zip(parsed.entity_records[1:], floats[1:]):
        kind = {SAW: "saw", ENEMY: "enemy"}.get(int(record[_E["type"]]))
        if kind and abs(f[0] - x) < f[4] + rx + margin and abs(f[1] - y) < f[5] + ry + margin:
            found.add(kind)
    return found


def remove_coin(state: bytes, parsed: CoinRunState | None = None) -> bytes:
    """``state`` without its coin (the coin cell becomes SPACE; the step reward zeroed as in ``move_coin``): the
    same moment of the same level with nothing to collect, for contrasts."""
    parsed = parse(state) if parsed is None else parsed
    cells = parsed.coin_cells
    if len(cells) != 1:
        raise ValueError(f"the state has {len(cells)} coin cells; remove_coin needs exactly one")
    x, y = cells[0]
    edited = bytearray(state)
    struct.pack_into("<i", edited, parsed.grid_offset + 4 * (GRID_W * y + x), SPACE)
    struct.pack_into("<f", edited, parsed.step_reward_offset, 0.0)
    return bytes(edited)
