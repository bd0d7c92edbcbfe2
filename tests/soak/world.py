"""The soak's world: provider Acme on one Exchange stand-in, and everything that disturbs it.

Three trainers, one per direction (ann `out`, ben `in`, cat `both`), a small window (2 days
back, 10 ahead) so that moves and the passing of time cross it often, and the mass-deletion
guard out of the way (it has its own tests; here a held plan would only look like a lost item).

Platform edits are written to the store as the training platform writes them. Trainers edit
their calendars through the stand-in as Outlook does, with their own credentials. The world
keeps its own record of each trainer's own items (times, show-as, recurrence), so the oracle
knows what must block without asking the product or the stand-in to expand a series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, func, select

from connectors.platform import configuration, db
from connectors.platform.calendar import add_all_day_unavailability, add_unavailability
from connectors.platform.models import (
    Course,
    EventSession,
    EventTrainer,
    ItemLink,
    Trainer,
    TrainerCursor,
    TrainingEvent,
    Unavailability,
    Venue,
)
from sync_rules.errors import ConfigurationError
from sync_rules.vocabulary import SHOW_AS
from tests.flows.exchange_sides import DOMAIN, Repeat

T = TypeVar("T")

PROVIDER = "Acme"
PAST_DAYS, FUTURE_DAYS = 2, 10
RULES = {
    "window": {"past_days": PAST_DAYS, "future_days": FUTURE_DAYS},
    "mass_delete_guard": {"min_count": 100_000},
}
DIRECTIONS = {"ann": "out", "ben": "in", "cat": "both"}
MAX_EVENTS = 6  # scheduled or not: the calendars stay small, so rounds stay fast
MAX_OWN_ITEMS = 4  # per trainer
MAX_BLOCKS = 3  # platform unavailability per trainer
REASONS = ("Leave", "Conference & <travel>", None)
REPEATS = (None, None, Repeat("day", 3), Repeat("week", 3), Repeat("day", None))


class Choose(Protocol):
    """Where a round's choices come from: hypothesis (which shrinks them) or a seeded random."""

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        ...

    def element(self, options: Sequence[T]) -> T:
        """One of `options` (not empty)."""
        ...


class Clock:
    """The runs' "now", moved only by the soak (`advance`): the window moves when it says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass(frozen=True)
class OwnItem:
    """A trainer's own appointment as the world made it: the first occurrence's times."""

    mailbox: str
    start: datetime
    end: datetime
    show_as: str
    repeat: Repeat | None

    def occurrences(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The occurrences overlapping [start, end)."""
        if self.repeat is None:
            return [(self.start, self.end)] if self.start < end and self.end > start else []
        step = timedelta(days=1 if self.repeat.every == "day" else 7)
        found, n = [], 0
        while self.repeat.count is None or n < self.repeat.count:
            s, e = self.start + n * step, self.end + n * step
            if s >= end:
                break
            if e > start:
                found.append((s, e))
            n += 1
        return found


@dataclass(repr=False)
class SoakWorld:
    """Provider Acme, its trainers and their calendars, on one store and one stand-in."""

    url: str
    side: Any  # tests.flows.exchange_sides.EwsSide | GraphSide
    clock: Callable[[], datetime]
    mailboxes: dict[str, str] = field(default_factory=dict)  # trainer name -> mailbox
    directions: dict[str, str] = field(default_factory=dict)  # mailbox -> direction
    own: dict[str, OwnItem] = field(default_factory=dict)  # item id -> what it is
    made: int = 0  # a counter for names that must be unique

    def __repr__(self) -> str:
        return f"SoakWorld({self.side.name})"

    @classmethod
    def create(cls, url: str, side: Any, clock: Callable[[], datetime]) -> SoakWorld:
        """Set the world up on a migrated, empty store and a reset stand-in."""
        world = cls(url, side, clock)
        side.reset()
        with db.transaction(url) as s:
            provider = configuration.add_provider(s, PROVIDER, True)
            provider.rules = RULES
            service = configuration.add_service(s, PROVIDER, side.service_config())
            for name, direction in DIRECTIONS.items():
                mailbox = f"{name}@{DOMAIN}"
                side.add_mailbox(mailbox, "Editor")
                trainer = configuration.add_trainer(s, provider, name.title(), mailbox)
                configuration.link_trainer(s, service, trainer, direction)
                world.mailboxes[name], world.directions[mailbox] = mailbox, direction
            s.add_all(
                [Course(provider_id=provider.id, name=n) for n in ("First Aid", "Fire Safety")]
                + [
                    Venue(provider_id=provider.id, name="Leeds Centre", address="1 Park Row"),
                    Venue(provider_id=provider.id, name="Online", address=None),
                ]
            )
        return world

    def populate(self, choose: Choose) -> None:
        """A first calendar for every round to work on: events, own items, unavailability."""
        for disturb in (
            [self.add_event] * 3 + [self.add_own_item] * 3 + [self.add_unavailability] * 2
        ):
            disturb(choose)

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        now = self.clock() if now is None else now
        return now - timedelta(days=PAST_DAYS), now + timedelta(days=FUTURE_DAYS)

    def _name(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix} {self.made}"

    # --- when things happen ------------------------------------------------------------------

    def when(self, choose: Choose, hours: int) -> tuple[datetime, datetime]:
        """A period of `hours`: inside the window, anywhere around it, well outside it, or just
        beyond one of its ends, so that moving the clock by minutes carries it across."""
        # Whole minutes, as the platform's times are (Exchange keeps no fractions of a second).
        now = self.clock().replace(second=0, microsecond=0)
        start_w, end_w = self.window(now)
        hour = now.replace(minute=0)
        where = choose.element(("inside", "inside", "around", "outside", "beyond-end", "at-start"))
        if where == "outside":  # well outside, on either side: weeks back, or up to 13 months ahead
            days = choose.element((-40, -PAST_DAYS - 1, FUTURE_DAYS + 2, 400))
            start = hour + timedelta(days=days, hours=choose.integer(0, 23))
        elif where == "inside":
            start = hour + timedelta(
                hours=choose.integer(-PAST_DAYS * 24 + 1, FUTURE_DAYS * 24 - 9)
            )
        elif where == "around":
            start = hour + timedelta(
                hours=choose.integer(-(PAST_DAYS + 3) * 24, (FUTURE_DAYS + 3) * 24)
            )
        elif where == "beyond-end":
            start = end_w + timedelta(minutes=choose.integer(1, 90))
        else:  # ending just after (or just before) the window's start
            start = start_w - timedelta(hours=hours) + timedelta(minutes=choose.integer(-30, 90))
        return start, start + timedelta(hours=hours)

    # --- the training platform ---------------------------------------------------------------

    def add_event(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            if s.scalar(select(func.count()).select_from(TrainingEvent)) >= MAX_EVENTS:
                return
            provider = configuration.get_provider(s, PROVIDER)
            courses, venues = list(s.scalars(select(Course))), list(s.scalars(select(Venue)))
            event = TrainingEvent(
                provider_id=provider.id,
                ref=self._name("EV").replace(" ", ""),
                course_id=choose.element([c.id for c in courses]),
                venue_id=choose.element([v.id for v in venues]),
                event_url="https://lms.acme.test/events/1?a=1&b=<2>",
                trainer_instructions_url="https://lms.acme.test/t",
            )
            hours = choose.integer(1, 7)
            event.sessions = [
                EventSession(start=s_, end=e_)
                for s_, e_ in (self.when(choose, hours) for _ in range(choose.integer(1, 2)))
            ]
            event.assignments = [
                EventTrainer(trainer_id=t.id) for t in self._some_trainers(s, choose)
            ]
            s.add(event)

    def _some_trainers(self, s: Any, choose: Choose) -> list[Trainer]:
        trainers = list(s.scalars(select(Trainer).order_by(Trainer.id)))
        chosen = [t for t in trainers if choose.integer(0, 1)]
        return chosen or [s.get(Trainer, choose.element([t.id for t in trainers]))]

    def move_session(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            sessions = list(s.scalars(select(EventSession.id).order_by(EventSession.id)))
            if sessions:
                row = s.get_one(EventSession, choose.element(sessions))
                row.start, row.end = self.when(
                    choose, int((row.end - row.start) / timedelta(hours=1))
                )

    def cancel_or_reinstate_event(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            events = list(s.scalars(select(TrainingEvent.id).order_by(TrainingEvent.id)))
            if events:
                event = s.get_one(TrainingEvent, choose.element(events))
                event.status = "cancelled" if event.status == "scheduled" else "scheduled"

    def reassign_event(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            events = list(s.scalars(select(TrainingEvent.id).order_by(TrainingEvent.id)))
            if events:
                event = s.get_one(TrainingEvent, choose.element(events))
                event.assignments = [
                    EventTrainer(trainer_id=t.id) for t in self._some_trainers(s, choose)
                ]

    def rename_venue(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            venue = s.get_one(Venue, choose.element(list(s.scalars(select(Venue.id)))))
            venue.name = self._name("Venue")

    def add_unavailability(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            trainer = s.get_one(Trainer, choose.element(list(s.scalars(select(Trainer.id)))))
            query = select(Unavailability.id).where(
                Unavailability.trainer_id == trainer.id, Unavailability.origin == "platform"
            )
            if len(list(s.scalars(query))) >= MAX_BLOCKS:
                return
            reason = choose.element(REASONS)
            try:
                if choose.integer(0, 2) == 0:  # whole days, as dates in the provider's zone
                    first = self.clock().date() + timedelta(
                        days=choose.integer(-PAST_DAYS - 2, FUTURE_DAYS + 1)
                    )
                    last = first + timedelta(days=choose.integer(1, 2))
                    add_all_day_unavailability(s, trainer, first, last, reason)
                else:
                    start, end = self.when(choose, choose.integer(1, 9))
                    add_unavailability(s, trainer, start, end, False, reason)
            except ConfigurationError:  # an exact duplicate, refused as an administrator's is
                s.rollback()

    def remove_unavailability(self, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            query = select(Unavailability.id).where(Unavailability.origin == "platform")
            rows = list(s.scalars(query.order_by(Unavailability.id)))
            if rows:
                s.delete(s.get_one(Unavailability, choose.element(rows)))

    # --- the trainers, in Outlook ------------------------------------------------------------

    def add_own_item(self, choose: Choose) -> None:
        mailbox = choose.element(sorted(self.directions))
        if sum(1 for i in self.own.values() if i.mailbox == mailbox) >= MAX_OWN_ITEMS:
            return
        start, end = self.when(choose, choose.integer(1, 4))
        item = OwnItem(mailbox, start, end, choose.element(SHOW_AS), choose.element(REPEATS))
        item_id = self.side.add_appointment(
            mailbox, self._name("Own"), start, end, show_as=item.show_as, repeat=item.repeat
        )
        self.own[item_id] = item

    def edit_own_item(self, choose: Choose) -> None:
        if not self.own:
            return
        item_id = choose.element(sorted(self.own))
        item = self.own[item_id]
        if item.repeat is None and choose.integer(0, 1):  # move a single appointment
            start, end = self.when(choose, choose.integer(1, 4))
            self.side.edit(item.mailbox, item_id, start=start, end=end)
            item = replace(item, start=start, end=end)
        else:  # a series changes its show-as as a whole
            item = replace(item, show_as=choose.element(SHOW_AS))
            self.side.set_show_as(item.mailbox, item_id, item.show_as)
        self.own[item_id] = item  # an edit keeps the item's id, on both backends

    def delete_own_item(self, choose: Choose) -> None:
        if self.own:
            item_id = choose.element(sorted(self.own))
            self.side.delete(self.own.pop(item_id).mailbox, item_id)

    def _pushed(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (mailbox, item)
            for mailbox in sorted(self.directions)
            for item in self.side.items(mailbox)
            if item["tag"]
        ]

    def edit_pushed_item(self, choose: Choose) -> None:
        pushed = self._pushed()
        if not pushed:
            return
        mailbox, item = choose.element(pushed)
        how = choose.element(("subject", "move", "show-as"))
        if how == "subject":
            self.side.edit(mailbox, item["id"], subject="Changed in Outlook")
        elif how == "move":  # by hours, or an all-day item by whole days (Outlook's way)
            unit = timedelta(days=1) if item["all_day"] else timedelta(hours=1)
            later = unit * choose.integer(1, 3)
            self.side.edit(
                mailbox, item["id"], start=item["start"] + later, end=item["end"] + later
            )
        else:
            self.side.set_show_as(mailbox, item["id"], "Free")

    def delete_pushed_item(self, choose: Choose) -> None:
        pushed = self._pushed()
        if pushed:
            mailbox, item = choose.element(pushed)
            self.side.delete(mailbox, item["id"])

    def copy_pushed_item(self, choose: Choose) -> None:
        """Outlook's copy and paste: a new item with the same fields, the engine's tag included."""
        pushed = self._pushed()
        if pushed:
            mailbox, item = choose.element(pushed)
            self.side.add_appointment(
                mailbox, item["subject"], item["start"], item["end"], tag=item["tag"]
            )

    # --- lost state --------------------------------------------------------------------------

    def lose_links(self, choose: Choose) -> None:
        self._wipe(ItemLink, choose)

    def lose_cursors(self, choose: Choose) -> None:
        self._wipe(TrainerCursor, choose)

    def _wipe(self, table: Any, choose: Choose) -> None:
        with db.transaction(self.url) as s:
            statement = delete(table)
            if choose.integer(0, 1):  # one trainer's rows, else everyone's
                ids = list(s.scalars(select(Trainer.id).order_by(Trainer.id)))
                statement = statement.where(table.trainer_id == choose.element(ids))
            s.execute(statement)

    # --- time --------------------------------------------------------------------------------

    def advance_clock(self, choose: Choose) -> None:
        minutes = choose.element((1, 7, 60, 6 * 60, 24 * 60, 3 * 24 * 60, 8 * 24 * 60))
        self.clock.advance(timedelta(minutes=minutes))  # type: ignore[attr-defined]

    def disturbances(self, clock_moves: bool) -> list[Callable[[Choose], None]]:
        """What a round draws from; moving the clock only where the runs take it from us."""
        # Weighted towards what moves things across the window and what has an item to
        # lose: moves of sessions, new entries and own items, and the clock.
        found = [
            *[self.add_event] * 2,
            *[self.move_session] * 3,
            self.cancel_or_reinstate_event,
            self.reassign_event,
            self.rename_venue,
            *[self.add_unavailability] * 2,
            self.remove_unavailability,
            *[self.add_own_item] * 2,
            *[self.edit_own_item] * 2,
            self.delete_own_item,
            *[self.edit_pushed_item] * 2,
            self.delete_pushed_item,
            self.copy_pushed_item,
            self.lose_links,
            self.lose_cursors,
        ]
        return found + [self.advance_clock] * 3 if clock_moves else found
