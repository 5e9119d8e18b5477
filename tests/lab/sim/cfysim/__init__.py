"""Cloudify Manager simulator for the runbook lab: a REST-level manager for the real cfy CLI, and cfy_manager (see tests/lab/sim/README.md)."""
