"""Telling the people who pay that their balance runs low or ran out."""
