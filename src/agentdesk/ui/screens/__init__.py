"""Full screens: customer table, customer profile, timeline, help, first run."""
