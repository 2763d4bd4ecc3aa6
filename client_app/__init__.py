"""The ClientApp: a node hosting one or more users; translates Flower messages to the fedrec core."""
