"""feedback service: turns a speech segment into a haptic pattern for the watch.

models.py (contract) · rules.py (coaching rules, the manual span) · report.py (end-of-
session report) · api.py (HTTP) · client.py (how the gateway calls it)
"""
