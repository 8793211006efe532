"""Readers for the public hand datasets in their native layouts."""
