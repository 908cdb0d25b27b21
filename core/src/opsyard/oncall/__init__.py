"""On-call rotations: who is on call for a team at any instant."""
