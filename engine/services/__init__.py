"""Use cases. Each public function is one transaction: it receives the session and a clock,
checks who may do what, and raises errors of ``engine.errors``."""
