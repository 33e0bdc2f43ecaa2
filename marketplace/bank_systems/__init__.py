"""Banks' own systems over HTTP: the outbox that hands routed applications to them, and (to come) their signed
callbacks. A hand-off is written to the outbox in the same transaction as the state change that causes it; the
dispatcher sends it later, retrying what may succeed, so a network that drops, times out or repeats neither loses
nor doubles it (the bank sees our application id as the Idempotency-Key)."""
