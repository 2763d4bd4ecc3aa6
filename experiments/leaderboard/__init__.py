"""The leaderboard: every listed attack against every listed defense on several datasets over seeds, run from
one TOML grid (`grid.py`) and written as a page of tables and heatmaps (`page.py`); `python -m
experiments.leaderboard` does both (`__main__.py`)."""
