"""Everything sent unasked: outbox writers (outbox.py), push texts (one module per area), the dispatcher."""
