"""Result store (SQLite), W&B sink, statistics and rendering: mirl's leaderboards."""
