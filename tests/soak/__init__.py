"""The soak: random rounds of disturbances, each followed by a clean sync and a check of every
sync invariant, as the state-machine test (`tests/flows/test_soak_state_machine.py`) runs
them. How a round's syncs are run is its runner's (`rounds.Syncs`).

- `world.SoakWorld`: one provider with trainers of every direction on an Exchange stand-in, the
  disturbances a round draws from, and an independent record of the trainers' own items;
- `oracle`: what the calendars must look like after a clean sync, and which items are whose;
- `rounds`: one round, and the in-process runner of its syncs.
"""
