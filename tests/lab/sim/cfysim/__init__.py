"""Cloudify Manager CLI simulator for the runbook lab (see tests/lab/sim/README.md)."""
