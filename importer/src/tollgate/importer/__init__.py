"""Moving users, organizations, subscriptions, balances and usage in from another backend."""
