# bench: the load generator (scripts/bench drives it)
