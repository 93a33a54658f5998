"""Cluster mode: several nodes on MongoDB + Redis. Nothing here is imported in embedded mode."""
