"""Reports: the trip / stop / summary engine (pure numpy, see ``engine``), and later views, exports and jobs."""
