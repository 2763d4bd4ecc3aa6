"""Ranking evaluation: per-node counts, grouped by user group, and the metrics the server divides out."""
