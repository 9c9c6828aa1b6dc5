"""Mail about auto top-up that billing turned off (a declined card)."""
