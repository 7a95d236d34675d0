"""Helpers for testing integrations the way intgkit tests its own: real servers on 127.0.0.1.

(Public API assembled from the private modules of this package.)
"""
