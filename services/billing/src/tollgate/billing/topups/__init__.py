"""Top-ups: credit packs bought once through Checkout, and auto top-up off-session."""
