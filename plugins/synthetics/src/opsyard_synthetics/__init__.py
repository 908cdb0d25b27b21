"""Synthetic checks: scripted probes of critical paths from many locations, with quorum
paging when a path degrades."""
