"""Scheduled jobs: schedules, recorded runs, leases, and the embedded and Celery backends.

Plugins declare jobs with the ``scheduled_jobs`` hook. The scheduler (embedded in
``opsyard serve``, or ``opsyard scheduler`` with Celery) queues one run per due slot; a runner
(a thread of ``opsyard serve``, an ``opsyard worker``, or ``opsyard jobs run``) claims it under
a lease in the database, calls the job and records the outcome. See
docs/decisions/0007-jobs-embedded-and-celery.md.
"""
