"""The ServerApp: translates between Flower's Grid and the fedrec core."""
