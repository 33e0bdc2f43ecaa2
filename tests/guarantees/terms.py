"""The guarantee-requiring product the batch tests publish."""

PRODUCT = {"name": "Guaranteed credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}
