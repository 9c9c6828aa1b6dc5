"""Which models each plan allows, as billing last announced it (``plan.updated``)."""
