"""Blueprints: one module each, ``bp`` at the top."""
