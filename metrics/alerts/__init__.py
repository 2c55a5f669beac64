"""Alerts that reach people: rules, the evaluator, channels and deliveries (README "Alerts")."""
