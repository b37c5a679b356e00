"""gateway: the only public API. Orchestrates the session and feedback services.

models.py (public contract) · coaching.py (the orchestration) · api.py (HTTP)
"""
