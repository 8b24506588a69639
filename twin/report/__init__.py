"""Reports for people and machines: console, JSON, JUnit, HTML, change, blast radius, zone graph.
Pure formatting.
"""
