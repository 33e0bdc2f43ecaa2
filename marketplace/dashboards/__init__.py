"""Dashboards: each role's figures drawn as server-rendered SVG charts."""
