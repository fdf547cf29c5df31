"""Aiguillage engine: circuits (BPMN + forms), their checks, and running cases.

``engine`` never imports Flask or the web app; ``engine.core`` never imports SQLAlchemy;
only ``engine.core.spiff`` imports SpiffWorkflow.
"""
