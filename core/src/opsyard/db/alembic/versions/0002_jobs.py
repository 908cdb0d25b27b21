"""core tables: job runs and job leases

Revision ID: 0002_jobs
Revises: 0001_core
Create Date: 2026-11-27 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opsyard.db.base

revision = '0002_jobs'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('job', sa.String(length=200), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('acquired_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', 'team', 'location', name=op.f('pk_job_leases'))
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=200), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('scheduled_for', opsyard.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queue', sa.String(length=200), nullable=False),
    sa.Column('queued_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_by', sa.String(length=200), nullable=False),
    sa.Column('started_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', opsyard.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.String(length=100), nullable=True),
    sa.Column('error_detail', sa.String(length=500), nullable=True),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('worker_location', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('slot_key', sa.String(length=400), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('slot_key', name=op.f('uq_job_runs_slot_key'))
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_target', ['job', 'team', 'location', 'scheduled_for'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_runs_queued_at'), ['queued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_runs_queued_at'))
        batch_op.drop_index('ix_job_runs_target')

    op.drop_table('job_runs')
    op.drop_table('job_leases')
