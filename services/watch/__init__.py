"""watch service: delivers haptic cues to the user's smartwatch, through RabbitMQ.

models.py (contract: the messages and what the watch serves) · client.py (how feedback
publishes to it) · consumer.py (the queue consumer) · store.py (what was delivered) ·
api.py (HTTP: Server-Sent Events for the watch app, a JSON read for tests)
"""
