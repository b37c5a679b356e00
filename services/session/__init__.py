"""session service: owns coaching sessions and their speech segments (SQLite).

models.py (contract) · store.py (SQLite) · api.py (HTTP) · client.py (how others call it)
"""
