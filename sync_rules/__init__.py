"""Pure sync rules: frame schemas, rule settings, rendering and the sync plan.

No I/O and no Prefect here. What the plan decides, and why, is docs/sync-semantics.md. The
pieces, bottom up:

- `sync_rules.frames`: pandera schemas of the trainers, platform, exchange, links,
  outside-window and plan frames, `validate_*` helpers, `split_list` for the `;`-joined
  list columns (`categories`, `changed_fields`).
- `sync_rules.rules`: `load_rules(path, overrides) -> Rules` (defaults in `default.yaml`).
- `sync_rules.render`: `render_entries` / `render_entry` (Outlook fields + content hash),
  `all_day_dates` / `all_day_bounds` for the connector's all-day conversion.
- `sync_rules.plan`: `build_plan(...)`, `window_bounds`, `in_window`; with
  `sync_rules.pairs` (pair codes, keepers of duplicates), `sync_rules.guard` (the
  mass-deletion hold) and `sync_rules.summary` (one readable line per plan row).
- `sync_rules.reasons`: the reason vocabulary of plan rows.
- `sync_rules.adopt`: tagged items to record in the link state; `sync_rules.gate`: the
  platform fingerprints of the change gate.

Conventions the loaders rely on:
- times are UTC (`datetime64[ns, UTC]`); all-day entries and items run from local midnight
  of the first day to local midnight after the last day in `rules.timezone`;
- after an Exchange create or update, record the link (trainer, entry key) -> item id, the
  new change key and the row's `content_hash`, and write key and hash into the item's tag;
  after deleting the linked item, drop the link;
- an Exchange update writes only `changed_fields` (plus the tag), guarded by `change_key`.
"""
