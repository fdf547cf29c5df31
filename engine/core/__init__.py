"""Pure engine logic: circuits, checks, expressions, forms, deadlines, snapshots. No database."""
