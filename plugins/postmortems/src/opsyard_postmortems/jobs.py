"""The post-mortems plugin's scheduled jobs: the escalation sweep and the weekly digest."""

from __future__ import annotations

from opsyard.db.engine import session_scope
from opsyard.extension import JobContext, JobSpec
from opsyard.teams import service as teams
from opsyard_postmortems import digest, escalation

ESCALATION_JOB = "postmortems.escalation"
DIGEST_JOB = "postmortems.digest"


def run_escalation(context: JobContext) -> None:
    """Take every ladder step due as of the run's instant, across all teams."""
    escalation.sweep(context.portal, at=context.at)


def run_digest(context: JobContext) -> None:
    """Send the team's owners their digest for the week of the run's instant."""
    if context.team_slug is None:
        return
    with session_scope(context.portal.sessions) as session:
        team = teams.require_by_slug(session, context.team_slug)
        digest.send_digest(
            session,
            portal=context.portal,
            team=team,
            period=digest.week_period(context.at),
            now=context.at,
        )


JOBS: tuple[JobSpec, ...] = (
    # One sweep across all teams, not one per team: the index on next_action_at finds the
    # due items of every team at once, and a run with nothing due reads no rows.
    JobSpec(
        name=ESCALATION_JOB,
        run=run_escalation,
        interval_seconds=300,
        time_limit_seconds=int(escalation.RUN_BUDGET_SECONDS) + 180,
    ),
    # Monday 08:00 UTC, per team so one team's failure does not hold back the others.
    JobSpec(name=DIGEST_JOB, run=run_digest, cron="0 8 * * 1", per_team=True),
)
