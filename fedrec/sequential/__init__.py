"""The sequential model family's protocol: training sequences, their local step and their evaluation."""
