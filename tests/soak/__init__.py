"""The soak: random rounds of disturbances, each followed by a clean sync and a check of every
sync invariant. The state-machine test (`tests/flows/test_soak_state_machine.py`) and the soak
benchmark (`benchmarks/soak.py`) run the same rounds; they differ in how a sync is run.

- `world.SoakWorld`: one provider with trainers of every direction on an Exchange stand-in, the
  disturbances a round draws from, and an independent record of the trainers' own items;
- `oracle`: what the calendars must look like after a clean sync, and which items are whose;
- `rounds`: one round, and how it draws its choices (from hypothesis or from a seeded random).
"""
