"""Reporting's pure calculations: funnels, conversion and (later) targets and commission."""
