"""Efficacy models of continuous endpoints (the primary efficacy tables) and their imputations."""
