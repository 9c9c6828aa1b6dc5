"""Admin actions on a user's plan."""
