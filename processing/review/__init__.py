"""The review page: a local web page where an analyst accepts or rejects each flag of a flight.

Run it with ``uav review FLIGHT.gpkg``; :func:`processing.review.server.serve` starts it from Python.
"""
