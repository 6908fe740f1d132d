"""Synthetic aneurysm cohort: anatomies, lumen surfaces, exact morphology and synthetic CTA."""
