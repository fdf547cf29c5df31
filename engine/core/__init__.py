"""Pure engine logic: circuits, checks, expressions, forms, deadlines, views. No database."""
