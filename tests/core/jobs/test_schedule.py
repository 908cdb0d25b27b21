"""Schedule maths: interval and cron slots, jitter, and what runs after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsyard.jobs.schedule import Schedule, plan


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_interval_slots_are_aligned_to_the_epoch() -> None:
    every_5m = Schedule(interval_seconds=300)
    assert every_5m.latest_at_or_before(at("2026-03-01T09:07:13")) == at("2026-03-01T09:05:00")
    assert every_5m.next_after(at("2026-03-01T09:07:13")) == at("2026-03-01T09:10:00")
    # A slot is its own latest slot, and the next one is strictly after it.
    assert every_5m.latest_at_or_before(at("2026-03-01T09:05:00")) == at("2026-03-01T09:05:00")
    assert every_5m.next_after(at("2026-03-01T09:05:00")) == at("2026-03-01T09:10:00")
    every_2s = Schedule(interval_seconds=2)
    assert every_2s.next_after(at("2026-03-01T09:00:01.5")) == at("2026-03-01T09:00:02")


def test_cron_slots_in_utc() -> None:
    weekdays_9am = Schedule(cron="0 9 * * 1-5")
    friday_evening = at("2026-03-06T18:00:00")  # a Friday
    assert weekdays_9am.next_after(friday_evening) == at("2026-03-09T09:00:00")  # Monday
    assert weekdays_9am.latest_at_or_before(friday_evening) == at("2026-03-06T09:00:00")
    assert weekdays_9am.latest_at_or_before(at("2026-03-09T09:00:00")) == at("2026-03-09T09:00:00")
    assert weekdays_9am.next_after(at("2026-03-09T09:00:00")) == at("2026-03-10T09:00:00")
    assert weekdays_9am.next_after(at("2026-03-09T08:59:59.9")) == at("2026-03-09T09:00:00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"interval_seconds": 60, "cron": "* * * * *"}, "exactly one"),
        ({"interval_seconds": 0}, "positive"),
        ({"cron": "every monday"}, "cron"),
        ({"cron": "* * * * * *"}, "five-field"),
        ({"interval_seconds": 60, "jitter_seconds": 60}, "shorter than the interval"),
        ({"interval_seconds": 60, "jitter_seconds": -1}, "negative"),
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)  # type: ignore[arg-type]


def test_jitter_stays_within_its_bounds_spreads_and_is_stable() -> None:
    schedule = Schedule(interval_seconds=300, jitter_seconds=30)
    slot = at("2026-03-01T09:00:00")
    offsets = [schedule.jitter(f"job|team-{i}|", slot).total_seconds() for i in range(500)]
    assert all(0 <= offset <= 30 for offset in offsets)
    # Spread across the whole window, not bunched at one end.
    assert min(offsets) < 3 and max(offsets) > 27
    assert 10 < sum(offsets) / len(offsets) < 20
    # The same key and slot always get the same offset, so a restart keeps due times.
    assert schedule.jitter("job|team-1|", slot) == schedule.jitter("job|team-1|", slot)
    assert Schedule(interval_seconds=300).jitter("job||", slot) == timedelta()


def test_plan_waits_for_the_next_slot_when_a_target_is_new() -> None:
    schedule = Schedule(interval_seconds=60)
    upcoming = plan(schedule, key="k", last_slot=None, now=at("2026-03-01T09:00:30"))
    assert upcoming.slot == upcoming.due_at == at("2026-03-01T09:01:00")


def test_plan_adds_jitter_to_the_slot() -> None:
    schedule = Schedule(interval_seconds=60, jitter_seconds=20)
    upcoming = plan(schedule, key="k", last_slot=None, now=at("2026-03-01T09:00:30"))
    assert upcoming.slot == at("2026-03-01T09:01:00")
    assert upcoming.due_at == upcoming.slot + schedule.jitter("k", upcoming.slot)


def test_after_downtime_a_job_runs_once_as_of_the_latest_missed_slot() -> None:
    schedule = Schedule(interval_seconds=60)
    last_ran = at("2026-03-01T09:00:00")
    back_up = at("2026-03-01T12:34:56")  # 214 slots were missed
    catch_up = plan(schedule, key="k", last_slot=last_ran, now=back_up)
    assert catch_up.slot == at("2026-03-01T12:34:00")
    assert catch_up.due_at <= back_up
    # Once that ran, the next run is the next slot, not another missed one.
    following = plan(schedule, key="k", last_slot=catch_up.slot, now=back_up)
    assert following.slot == at("2026-03-01T12:35:00")


def test_after_downtime_a_daily_cron_job_runs_once() -> None:
    schedule = Schedule(cron="0 6 * * *")
    catch_up = plan(
        schedule, key="k", last_slot=at("2026-03-01T06:00:00"), now=at("2026-03-04T10:00:00")
    )
    assert catch_up.slot == at("2026-03-04T06:00:00")
    following = plan(schedule, key="k", last_slot=catch_up.slot, now=at("2026-03-04T10:00:00"))
    assert following.slot == at("2026-03-05T06:00:00")


def test_describe() -> None:
    assert Schedule(interval_seconds=300).describe() == "every 5m"
    assert Schedule(interval_seconds=2).describe() == "every 2s"
    assert Schedule(interval_seconds=3600, jitter_seconds=90).describe() == (
        "every 1h (+ up to 90s jitter)"
    )
    assert Schedule(cron="0 9 * * 1-5").describe() == "cron 0 9 * * 1-5"
