"""Pure sync rules: frame schemas, rule settings, rendering and the sync plan.

No I/O and no Prefect here. The pieces, bottom up:

- `sync_rules.frames`: pandera schemas of the trainers, platform, exchange, links,
  live-elsewhere and plan frames, `validate_*` helpers, `split_list` for the `;`-joined
  list columns (`categories`, `changed_fields`).
- `sync_rules.rules`: `load_rules(path, overrides) -> Rules` (defaults in `default.yaml`).
- `sync_rules.render`: `render_entries` / `render_entry` (Outlook fields + content hash),
  `all_day_dates` / `all_day_bounds` for the connector's all-day conversion.
- `sync_rules.plan`: `build_plan(...)`, `window_bounds`, `in_window`.
- `sync_rules.reasons`: the reason vocabulary of plan rows.
- `sync_rules.report`: `render_summary` and `plan_records` for dry runs.

Conventions the loaders rely on:
- times are UTC (`datetime64[ns, UTC]`); all-day entries and items run from local midnight
  of the first day to local midnight after the last day in `rules.timezone`;
- after an Exchange create or update, record the link (trainer, entry key) -> item id, the
  new change key and the row's `content_hash`, and write key and hash into the item's tag;
  after deleting the linked item, drop the link;
- an Exchange update writes only `changed_fields` (plus the tag), guarded by `change_key`.
"""
