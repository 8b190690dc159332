"""Inline keyboards, one module per concern, built with InlineKeyboardBuilder."""
