"""What a run reports beside the ranking metrics: the results folder, update statistics, detection rates."""
