"""Adapters: the local and the Google Cloud implementation of each port."""
