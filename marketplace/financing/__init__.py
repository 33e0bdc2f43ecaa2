"""Enterprises' financing requests, their ranked offers, the banks' applications and the resulting loans.

This is the orchestration layer: it uses the product catalogue (and, later, guarantees), so unlike the rest of
the core it imports `products` at module level.
"""
