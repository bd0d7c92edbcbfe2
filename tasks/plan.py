"""The planning task: one vectorised plan over all trainers of a provider.

Plans are per trainer, so a provider with very many busy trainers is planned in slices of
`PLAN_SLICE` trainers: the same result, with memory bounded by the slice (planning 1,000
trainers × 300 items peaks under 1 GB; 5,000 at once would need over 3 GB).
"""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.platform.calendar import entries_by_key, mirrors_of_items
from connectors.platform.state import load_links
from sync_rules.adopt import adoptable_links
from sync_rules.frames import LINKS_COLUMNS, PLATFORM_COLUMNS
from sync_rules.plan import build_plan
from tasks.context import ProviderRun
from tasks.exchange import Extraction, exchange_frame, read_trainer_ids
from tasks.resources import Resources
from tasks.runtime import chunks

PLAN_SLICE = 1000


@task(name="plan", cache_policy=NO_CACHE, timeout_seconds=600)
def plan_provider(
    resources: Resources,
    run: ProviderRun,
    platform: pd.DataFrame,
    extractions: list[Extraction],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Diff both sides of every trainer whose mailbox was read, in one call.

    What the window's platform frame lacks for items that were read is looked up once more,
    wherever it lies in time, and handed to the plan as rows:
    - the entry of a tagged item, so the item follows its entry out of the window instead
      of being deleted or left behind;
    - the mirror of a trainer's own item, so a mirror left outside the window follows its
      item back in instead of being made twice.
    Returns the plan and the tagged items to adopt into the link state (`sync_rules.adopt`).
    """
    read_ids = read_trainer_ids(extractions)
    exchange = exchange_frame(extractions)
    tagged = exchange["tag_key"].notna()
    orphans = _missing(
        exchange.loc[tagged, ["trainer_id", "tag_key"]], platform[["trainer_id", "entry_key"]]
    )
    unmirrored = _missing(
        exchange.loc[~tagged, ["trainer_id", "item_id"]],
        platform.loc[platform["origin"] == "exchange", ["trainer_id", "source_item_id"]],
    )
    with resources.snapshot() as session:
        links = pd.DataFrame(load_links(session, read_ids), columns=list(LINKS_COLUMNS))
        elsewhere = pd.DataFrame(
            entries_by_key(session, orphans) + mirrors_of_items(session, unmirrored),
            columns=list(PLATFORM_COLUMNS),
        )
    if not elsewhere.empty:
        platform = pd.concat([platform, elsewhere], ignore_index=True)
    trainers = run.trainers_frame(read_ids)
    slices = list(chunks(sorted(read_ids), PLAN_SLICE)) or [[]]
    plans = []
    for members in slices:

        def only(frame: pd.DataFrame, ids: list[int] = members) -> pd.DataFrame:
            return frame[frame["trainer_id"].isin(ids)]

        plans.append(
            build_plan(
                only(trainers),
                only(platform),
                only(exchange),
                only(links),
                run.rules,
                run.now,
                allow_mass_delete=run.allow_mass_delete,
            )
        )
    plan = pd.concat(plans, ignore_index=True) if len(plans) > 1 else plans[0]
    return plan, adoptable_links(exchange, links, plan)


def _missing(wanted: pd.DataFrame, present: pd.DataFrame) -> set[tuple[int, str]]:
    """The (trainer_id, key) pairs of `wanted` that `present` lacks (both two columns)."""
    found = set(present.itertuples(index=False, name=None))
    return {
        (int(t), str(k))
        for t, k in wanted.drop_duplicates().itertuples(index=False, name=None)
        if (t, k) not in found
    }
